from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Controller, get, post
from litestar.dto import MsgspecDTO
from litestar.exceptions import SerializationException, ValidationException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler
from litestar.typing import FieldDefinition

from bpo.core.guards import CLIENT_READERS, INGESTERS
from bpo.core.http import Caller, Cursor, Filter, Limit, Session
from bpo.core.pagination import DEFAULT_PAGE_SIZE
from bpo.work import schemas, service

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Reference, Schema


_ERROR_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)
_decode_batch = msgspec.json.Decoder(schemas.WorkItemBatch, strict=False).decode


class BatchBody(MsgspecDTO[schemas.WorkItemBatch]):
    """Decodes a batch straight into its structs in one pass. Litestar's default for a JSON body builds
    dicts and then converts them, which for 10,000 items costs more than the upsert. Same lax typing
    (strict=False) and the same validation errors, documented with the same schema."""

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return _decode_batch(value)
        except msgspec.ValidationError as exc:
            parts = _ERROR_PATH.match(str(exc))
            message, path = (parts["message"], parts["path"]) if parts else (str(exc), None)
            error = {"message": message, "key": path or "data", "source": "body"}
            raise ValidationException(
                detail=f"Validation failed for POST {self.asgi_connection.url.path}", extra=[error]
            ) from None
        except msgspec.DecodeError as exc:
            raise SerializationException(str(exc)) from exc

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(schemas.WorkItemBatch))


class WorkItemBatchController(Controller):
    path = "/v1/work-items:batch"
    tags = ["work items"]
    guards = [INGESTERS]

    @post(
        "",
        dto=BatchBody,
        return_dto=None,
        status_code=HTTP_200_OK,
        summary="Upsert up to 10,000 work items of one contract (idempotent by external_id)",
        description=(
            "Every item is validated first; any invalid item rejects the whole batch, listing each bad index "
            "and field, and nothing is written. Timestamps only move forward: a later first_response_at "
            "never replaces an earlier one, and a missing value never clears a stored one. Replaying a "
            "batch changes nothing."
        ),
    )
    async def ingest_batch(
        self, session: Session, caller: Caller, data: JSONBody[schemas.WorkItemBatch]
    ) -> schemas.BatchResult:
        return await service.ingest(session, caller, data)


class ContractWorkItemController(Controller):
    path = "/v1/contracts/{contract_id:uuid}/work-items"
    tags = ["work items"]
    guards = [CLIENT_READERS]

    @get("", summary="A contract's work items")
    async def list_work_items(
        self,
        session: Session,
        caller: Caller,
        contract_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: Cursor = None,
        external_id: Filter = None,
    ) -> schemas.WorkItemPage:
        return await service.list_items(
            session, caller, contract_id, limit=limit, cursor=cursor, external_id=external_id
        )


ROUTES: list[ControllerRouterHandler] = [WorkItemBatchController, ContractWorkItemController]
