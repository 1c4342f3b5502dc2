"""The OpenAPI document says, for every operation, which problems (RFC 9457) it can answer with.

Litestar documents only a generic 400 in its own error shape; the API answers every 4xx/5xx as
``application/problem+json`` (``bpo.core.problems``). One pass over the built document, after every
route is registered, puts the real shape and statuses on each operation, so a route added later is
documented the same way without touching its decorator. A handler that can answer with a status the
rules below do not imply names it in ``opt={PROBLEMS_OPT: (429,)}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.routes import HTTPRoute

from bpo.core.problems import PROBLEM_JSON
from bpo.core.routing import PATH_PARAMETER, path_shape
from bpo.core.validation import ERROR_LIMIT

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

PROBLEMS_OPT = "problems"
PROBLEM_SCHEMA = "Problem"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RETRY_AFTER = {429, 503}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies reject unknown fields (``forbid_unknown_fields``): say so with
    ``additionalProperties: false``, which Litestar's own struct schemas leave out."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            for field in info.fields:
                prop = (schema.properties or {}).get(field.encode_name)
                if isinstance(prop, Schema):
                    _state_item_bounds(prop, field.type)
        return schema


def _alternatives(schema: Schema) -> list[Schema]:
    return [schema, *(s for s in [*(schema.one_of or []), *(schema.any_of or [])] if isinstance(s, Schema))]


def _state_item_bounds(schema: Schema, tp: msgspec.inspect.Type) -> None:
    """Litestar leaves out the constraints of a list's items (``list[Label]``: each at most 64 long) and a
    mapping's size; copy them from msgspec's view of the field onto the array's ``items`` or the object."""
    members = [_plain(t) for t in _union_members(_plain(tp))]
    for mapping in (
        t for t in members if isinstance(t, msgspec.inspect.DictType) and t.max_length is not None
    ):
        for obj in (
            s for s in _alternatives(schema) if s.type == OpenAPIType.OBJECT and s.max_properties is None
        ):
            obj.max_properties = mapping.max_length
    if len(members) > 1:
        # Litestar drops the constraints of a union's members too (``Annotated[int, Meta(le=31)] | …``).
        for kind, schema_type in (
            (msgspec.inspect.IntType, OpenAPIType.INTEGER),
            (msgspec.inspect.FloatType, OpenAPIType.NUMBER),
            (msgspec.inspect.StrType, OpenAPIType.STRING),
        ):
            typed = [t for t in members if isinstance(t, kind)]
            targets = [s for s in _alternatives(schema)[1:] if s.type == schema_type and s.const is None]
            if len(typed) == 1 and len(targets) == 1:
                _copy_scalar_bounds(targets[0], typed[0])
    lists = [t for t in members if isinstance(t, msgspec.inspect.ListType)]
    arrays = [s for s in _alternatives(schema) if s.type == OpenAPIType.ARRAY and isinstance(s.items, Schema)]
    if len(lists) != 1 or len(arrays) != 1:
        return
    item, items = _plain(lists[0].item_type), arrays[0].items
    assert isinstance(items, Schema)
    _copy_scalar_bounds(items, item)


def _copy_scalar_bounds(target: Schema, tp: msgspec.inspect.Type) -> None:
    """Lengths and patterns of a string, ranges of a number, where the schema states none of its own."""
    if isinstance(tp, msgspec.inspect.StrType):
        target.min_length = tp.min_length if target.min_length is None else target.min_length
        target.max_length = tp.max_length if target.max_length is None else target.max_length
        target.pattern = tp.pattern if target.pattern is None else target.pattern
    elif isinstance(tp, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        target.minimum = tp.ge if target.minimum is None else target.minimum
        target.maximum = tp.le if target.maximum is None else target.maximum


def _plain(tp: msgspec.inspect.Type) -> msgspec.inspect.Type:
    while isinstance(tp, msgspec.inspect.Metadata):
        tp = tp.type
    return tp


def _union_members(tp: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    return list(tp.types) if isinstance(tp, msgspec.inspect.UnionType) else [tp]


def _problem_schema() -> Schema:
    text = Schema(type=OpenAPIType.STRING)
    field_error = Schema(
        type=OpenAPIType.OBJECT,
        required=["field", "message"],
        properties={
            "field": text,
            "message": text,
            "index": Schema(type=OpenAPIType.INTEGER, minimum=0),
        },
    )
    return Schema(
        type=OpenAPIType.OBJECT,
        description=(
            "An error (RFC 9457). `type` is stable; `errors` names each offending field, at most "
            f"{ERROR_LIMIT}; `errors_omitted` counts the ones left out."
        ),
        required=["type", "title", "status", "detail"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.URI),
            "title": text,
            "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
            "detail": text,
            "instance": text,
            "request_id": text,
            "errors": Schema(type=OpenAPIType.ARRAY, items=field_error, max_items=ERROR_LIMIT),
            "errors_omitted": Schema(type=OpenAPIType.INTEGER, minimum=1),
        },
    )


def problem_statuses(route: HTTPRoute, handler: HTTPRouteHandler, method: str) -> set[int]:
    """The error statuses an operation can answer with, from what the route takes and who may call it."""
    signature = handler.parsed_fn_signature.parameters
    has_body = "data" in signature
    public = bool(handler.opt.get("exclude_from_auth"))
    statuses = {503}
    if has_body:
        # 400: not JSON (or not UTF-8, or nested too deep); 413: over the body limit; 415: not sent as
        # the operation's media type; 422: JSON that breaks the schema or a rule (NUL in a string too).
        statuses |= {400, 413, 415, 422}
    if route.path_parameters or set(signature) - {"data", "session", "caller", "request"}:
        statuses.add(422)
    if not public:
        statuses |= {401, 404}
    if handler.resolve_guards():
        statuses |= {401, 403}
    if route.path_parameters:
        statuses.add(404)
    if method in _MUTATING and (not public or handler.resolve_guards()):
        # Conflicts with the current state, and an Idempotency-Key still in flight.
        statuses.add(409)
    statuses.update(handler.opt.get(PROBLEMS_OPT, ()))
    return statuses


def _problem_response(status: int) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status in _RETRY_AFTER:
        headers = {
            "Retry-After": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
                description="Seconds to wait before retrying.",
                required=False,
            )
        }
    return OpenAPIResponse(
        description=HTTPStatus(status).phrase,
        headers=headers,
        content={
            PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{PROBLEM_SCHEMA}"))
        },
    )


def _operation(document: OpenAPI, path: str, method: str) -> Operation | None:
    shape = path_shape(path)
    item = next((item for key, item in (document.paths or {}).items() if path_shape(key) == shape), None)
    operation: Operation | None = getattr(item, method.lower(), None) if item is not None else None
    return operation


def _merge_equivalent_paths(document: OpenAPI) -> None:
    """One path per resource: OpenAPI holds paths that differ only in a parameter's name to be the same
    (and such a document invalid). A custom-method route taking ``{reference}`` where its siblings take
    ``{time_off_id}`` joins them, its parameter renamed to theirs."""
    paths = document.paths or {}
    first_of_shape: dict[str, str] = {}
    for path in list(paths):
        shape = path_shape(path)
        canonical = first_of_shape.setdefault(shape, path)
        if canonical == path:
            continue
        names = dict(zip(PATH_PARAMETER.findall(path), PATH_PARAMETER.findall(canonical), strict=True))
        target, source = paths[canonical], paths[path]
        clash = any(getattr(target, m) is not None and getattr(source, m) is not None for m in _METHODS)
        if clash:
            continue
        for method in _METHODS:
            operation: Operation | None = getattr(source, method)
            if operation is None:
                continue
            for parameter in operation.parameters or []:
                if isinstance(parameter, Parameter) and parameter.param_in == "path":
                    parameter.name = names.get(f"{{{parameter.name}}}", f"{{{parameter.name}}}")[1:-1]
            setattr(target, method, operation)
        del paths[path]


def document_problems(app: Litestar) -> None:
    document = app.openapi_schema
    _merge_equivalent_paths(document)
    assert document.components.schemas is not None
    document.components.schemas[PROBLEM_SCHEMA] = _problem_schema()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation = _operation(document, route.path_format or "/", method)
                if operation is None:
                    continue
                responses: dict[str, Any] = {
                    code: response
                    for code, response in (operation.responses or {}).items()
                    if not code.startswith(("4", "5"))
                }
                for status in sorted(problem_statuses(route, handler, method)):
                    responses[str(status)] = _problem_response(status)
                operation.responses = responses
                if handler.opt.get("exclude_from_auth") and not handler.resolve_guards():
                    # Reachable without credentials: the document-wide bearer requirement does not apply.
                    operation.security = []
