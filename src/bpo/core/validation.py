"""Every type error of a value at once, each at its path (``items[3].received_at``,
``rate_plan.charges[1].tiers[2].up_to``). msgspec stops at the first error; the ``Walker`` converts a
value piece by piece so one mistake does not hide the next. It is only run after msgspec's own decode
has failed, so valid input never pays for it. Request bodies (``core/problems``) and tenant manifests
(``onboarding/manifest``) share it."""

from __future__ import annotations

import difflib
import re
import types
from enum import Enum
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import msgspec

from bpo.core.types import OutOfRange

# A problem response lists at most this many field errors and counts the rest (``errors_omitted``).
ERROR_LIMIT = 100

INVALID: Any = object()
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


class Mistake(NamedTuple):
    path: str
    message: str


def join(path: str, name: str) -> str:
    name = name.removeprefix(".")
    if not path or not name:
        return path or name
    return f"{path}{name}" if name.startswith("[") else f"{path}.{name}"


def members(tp: Any) -> list[Any]:
    """The alternatives of a type, without ``Annotated`` constraints and ``None``."""
    if get_origin(tp) is Annotated:
        return members(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in members(arg)]
    return [] if tp is type(None) else [tp]


def _metas(tp: Any) -> list[msgspec.Meta]:
    if get_origin(tp) is Annotated:
        inner, *extras = get_args(tp)
        return [m for m in extras if isinstance(m, msgspec.Meta)] + _metas(inner)
    if get_origin(tp) in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in _metas(arg)]
    return []


def expected(tp: Any) -> str | None:
    """What a constrained type takes, in words (``a duration like 30m, 8h, 2d``): ``Meta(extra=...)``."""
    for meta in _metas(tp):
        if meta.extra and "expected" in meta.extra:
            return str(meta.extra["expected"])
    return None


def choices(tp: Any) -> list[str]:
    options = members(tp)
    if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], Enum):
        return [str(member.value) for member in options[0]]
    if len(options) == 1 and get_origin(options[0]) is Literal:
        return [str(arg) for arg in get_args(options[0])]
    return []


def explain(message: str, tp: Any, raw: Any) -> str:
    """msgspec's message for a value of ``tp``, with a pattern shown as what it means and the choices of an
    enum listed."""
    words = expected(tp)
    if words is not None and ("matching regex" in message or "of length" in message):
        return f"Expected {words}, got {raw!r}"
    if choices(tp):
        return f"{message}; expected one of: {', '.join(choices(tp))}"
    return message


class Walker:
    """Converts a value to a type piece by piece, recording each part that fails at its path and leaving
    it out, so that everything else is still checked. ``convert`` returns ``INVALID`` for a part that
    failed. Past ``limit`` mistakes are counted in ``omitted`` instead of kept."""

    def __init__(self, *, strict: bool = True, limit: int | None = None) -> None:
        self.strict = strict
        self.limit = limit
        self.mistakes: list[Mistake] = []
        self.omitted = 0

    @property
    def found(self) -> int:
        return len(self.mistakes) + self.omitted

    def report(self, path: str, message: str) -> None:
        if self.limit is not None and len(self.mistakes) >= self.limit:
            self.omitted += 1
        else:
            self.mistakes.append(Mistake(path, message))

    def unknown_field(self, name: str, known: list[str]) -> str:
        return f"Object contains unknown field `{name}`"

    def missing_field(self, name: str) -> str:
        return f"Object missing required field `{name}`"

    def convert(self, raw: Any, tp: Any, path: str) -> Any:
        try:
            return msgspec.convert(raw, tp, strict=self.strict)
        except msgspec.ValidationError as exc:
            failure = exc
        before = self.found
        options = members(tp)
        structs = [t for t in options if isinstance(t, type) and issubclass(t, msgspec.Struct)]
        lists = [get_args(t)[0] for t in options if get_origin(t) is list and get_args(t)]
        value = INVALID
        if isinstance(raw, dict) and structs:
            tag_field = structs[0].__struct_config__.tag_field
            if len(structs) == 1:
                value = self.struct(raw, structs[0], path)
            elif tag_field is not None:
                tagged = {t.__struct_config__.tag: t for t in structs}
                tag = raw.get(tag_field)
                # A tag that is not a string or number (an object, a list) names no type.
                if isinstance(tag, str | int) and tag in tagged:
                    value = self.struct(raw, tagged[tag], path)
                else:
                    kinds = ", ".join(str(tag) for tag in tagged)
                    self.report(join(path, tag_field), f"expected one of: {kinds}")
        elif isinstance(raw, list) and len(lists) == 1:
            value = self.list(raw, lists[0], path)
        if self.found == before:
            match = _AT.match(str(failure))
            assert match is not None
            inner = match["path"] or ""
            message = explain(match["message"], tp, raw) if not inner else match["message"]
            self.report(join(path, inner), message)
            return INVALID
        return value

    def struct(
        self,
        raw: dict[Any, Any],
        cls: type[msgspec.Struct],
        path: str,
        stand_ins: dict[str, Any] | None = None,
    ) -> Any:
        fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
        values: dict[str, Any] = {}
        broken = False
        for key, item in raw.items():
            name = str(key)
            if name == cls.__struct_config__.tag_field:
                continue
            field = fields.get(name)
            if field is None:
                if cls.__struct_config__.forbid_unknown_fields:
                    # Reported, but the rest of the object is still read: it may hide no other mistake.
                    self.report(join(path, name), self.unknown_field(name, list(fields)))
                continue
            value = self.convert(item, field.type, join(path, name))
            if value is not INVALID:
                values[field.name] = value
            elif stand_ins and field.name in stand_ins:
                values[field.name] = stand_ins[field.name]
            else:
                broken = broken or field.required
        for name, field in fields.items():
            if field.required and name not in raw:
                self.report(join(path, name), self.missing_field(name))
                broken = True
        if broken:
            return INVALID
        try:
            return cls(**values)
        except OutOfRange as exc:
            self.report(join(path, exc.field), exc.message)
            return INVALID
        except (TypeError, ValueError):
            return INVALID

    def list(self, raw: list[Any], item_type: Any, path: str) -> Any:
        """A list is valid whole or not at all; every bad item is reported."""
        items = [self.item(value, item_type, path, i) for i, value in enumerate(raw)]
        return INVALID if any(item is INVALID for item in items) else items

    def item(self, raw: Any, item_type: Any, path: str, index: int) -> Any:
        return self.convert(raw, item_type, f"{path}[{index}]")


def did_you_mean(name: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def find_mistakes(
    raw: Any, tp: Any, *, strict: bool = True, limit: int | None = ERROR_LIMIT
) -> tuple[list[Mistake], int]:
    """Every mistake of ``raw`` as a ``tp`` (the first ``limit``), and how many more there were."""
    walker = Walker(strict=strict, limit=limit)
    walker.convert(raw, tp, "")
    return walker.mistakes, walker.omitted
