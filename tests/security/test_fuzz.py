"""Schema fuzzing: every operation of the running app's own OpenAPI document, over real HTTP, as every
kind of caller and as nobody. Checks: no 5xx, status codes, content types, headers and bodies as
documented, every 4xx/5xx an ``application/problem+json``, bad input rejected.

CI runs a few examples per operation; ``make fuzz`` (``FUZZ_EXAMPLES=…``) goes deeper and adds the
coverage phase (boundary and negative values for every parameter) and stateful sequences that follow
the document's links.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response

from bpo.app import create_app
from bpo.core.errors import PROBLEM_BASE
from bpo.core.problems import PROBLEM_JSON
from bpo.core.runtime import Runtime
from bpo.settings import load_settings
from tests.security.world import World, build_world
from tests.support.server import ServerThread

DEEP = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = DEEP or 4
CALLERS = ["admin", "account_manager", "supervisor", "staff", "client_viewer", "api_key", "anonymous"]


def problem_json(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every error is an RFC 9457 problem with one of our stable types."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == PROBLEM_JSON, (
        f"{response.status_code} answered as {content_type!r}, not problem+json"
    )
    body = response.json()
    assert body["status"] == response.status_code, body
    assert str(body["type"]).startswith(PROBLEM_BASE), body
    return True


@pytest.fixture(scope="module")
async def fuzz_world(client: httpx.AsyncClient, runtime: Runtime) -> World:
    return await build_world(client, runtime)


def _document() -> dict[str, Any]:
    """The app's own OpenAPI document, built by the factory the server runs (no connections made)."""
    app = create_app(load_settings(log_level="WARNING"))
    return app.openapi_schema.to_schema()


# Signed by Stripe over the raw body: generated bodies only ever reach the signature check, which the
# billing tests cover with real signatures.
NOT_FUZZED = ["/v1/stripe/webhooks"]

schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            # Credentials are the caller's, never generated; unknown query parameters are ignored by design.
            "generation": {
                "max-examples": EXAMPLES,
                "database": "none",
                "with-security-parameters": False,
                "allow-extra-parameters": False,
            },
            "checks": {
                # Schema-valid input may still break a rule the schema cannot express (an unknown id, an
                # IANA zone, a password policy): 422 with the field named. 400 stays for malformed input.
                "positive_data_acceptance": {"expected-statuses": ["2XX", 401, 403, 404, 409, 422, 429]},
            },
            "phases": {"coverage": {"enabled": bool(DEEP)}, "stateful": {"enabled": bool(DEEP)}},
        }
    ),
).exclude(path=NOT_FUZZED)


@pytest.mark.parametrize("caller", CALLERS)
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_operation(case: Case[Any], caller: str, server: ServerThread, fuzz_world: World) -> None:
    headers: dict[str, Any] = {} if caller == "anonymous" else dict(fuzz_world.caller(caller).headers)
    case.call_and_validate(base_url=server.url, headers=headers, additional_checks=[problem_json])
