"""Stored versions (SLA objectives, rate plans) read back as the API's types, whatever bounds they break.

A version is stored as the JSON of its request type. When a later release tightens a bound (an SLA
threshold of at most a year), a value an older release accepted no longer converts; it is still read,
unchecked, so the version can be listed, shown and corrected through the API. ``problems`` says what is
wrong with it."""

from __future__ import annotations

from collections.abc import Hashable
from functools import lru_cache
from typing import Any, TypeVar, cast

import msgspec
from msgspec import inspect

T = TypeVar("T")


def read(raw: Any, tp: type[T]) -> T:
    """``raw`` as ``tp``: checked when it passes today's bounds, else built as it is."""
    try:
        return msgspec.convert(raw, tp)
    except msgspec.ValidationError:
        value: T = _unchecked(raw, inspect.type_info(tp))
        return value


@lru_cache(maxsize=32)
def _decoder(tp: Hashable) -> msgspec.json.Decoder[Any]:
    # One decoder per type: msgspec.json.decode(text, type=tp) looks the type up again on every call, which
    # costs more than decoding a small version (a month-end run decodes four per contract).
    return msgspec.json.Decoder(tp)


def decode(text: str | bytes, tp: type[T]) -> T:
    """``read`` of a version's JSON text: decoded straight into ``tp`` (no Python objects in between) when
    it passes today's bounds, else read unchecked."""
    try:
        value: T = _decoder(cast("Hashable", tp)).decode(text)
        return value
    except msgspec.ValidationError:
        return read(msgspec.json.decode(text), tp)


def problem(raw: Any, tp: Any) -> str | None:
    """What about ``raw`` today's ``tp`` refuses, if anything."""
    try:
        msgspec.convert(raw, tp)
    except msgspec.ValidationError as error:
        return str(error)
    return None


def _unchecked(raw: Any, info: inspect.Type) -> Any:
    if isinstance(info, inspect.Metadata):
        return _unchecked(raw, info.type)
    if isinstance(info, inspect.ListType) and isinstance(raw, list):
        return [_unchecked(item, info.item_type) for item in raw]
    if isinstance(info, inspect.StructType) and isinstance(raw, dict):
        return info.cls(
            **{f.name: _unchecked(raw[f.encode_name], f.type) for f in info.fields if f.encode_name in raw}
        )
    if isinstance(info, inspect.UnionType):
        return _unchecked(raw, _member(raw, info))
    if isinstance(info, inspect.EnumType):
        return info.cls(raw)
    return raw


def _member(raw: Any, union: inspect.UnionType) -> inspect.Type:
    """The member of ``union`` that ``raw`` is: by its tag for tagged structs, else by its JSON kind."""
    options = [t.type if isinstance(t, inspect.Metadata) else t for t in union.types]
    if raw is None:
        return next((t for t in options if isinstance(t, inspect.NoneType)), inspect.AnyType())
    structs = [t for t in options if isinstance(t, inspect.StructType)]
    if structs and isinstance(raw, dict):
        return next((t for t in structs if t.tag_field is None or raw.get(t.tag_field) == t.tag), structs[0])
    others = (t for t in options if not isinstance(t, inspect.NoneType | inspect.StructType))
    return next(others, inspect.AnyType())
