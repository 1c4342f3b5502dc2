"""The OpenAPI document generates a whole client: schema names are unique, and openapi-python-client (the
usual generator) keeps every operation. It drops, with a warning, any operation whose schemas share a
title with another schema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
METHODS = {"get", "post", "put", "patch", "delete"}
# Each generated endpoint module builds its request from these two literals in ``_get_kwargs``.
GENERATED_METHOD = re.compile(r'"method": "(\w+)"')
GENERATED_URL = re.compile(r'"url": "([^"]+)"')


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path) for path, item in document["paths"].items() for method in item if method in METHODS
    }


def test_no_two_schema_components_share_a_title(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    titles = Counter(schema.get("title", name) for name, schema in schemas.items())

    assert [title for title, count in titles.items() if count > 1] == []
    # Litestar falls back to module-qualified keys ("billing_schemas_Money") when two types share a name.
    assert [name for name in schemas if "_schemas_" in name] == []


def test_the_generated_client_has_every_operation(document: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    output = tmp_path / "client"
    # Documents (application/pdf) reach a generated client as bytes, which it knows as octet-stream.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"content_type_overrides": {"application/pdf": "application/octet-stream"}}))
    # The generator formats its output with ruff, which it looks up on PATH.
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(source),
            "--output-path",
            str(output),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    generated = set()
    for module in (output / "bpo_ops_api_client" / "api").rglob("*.py"):
        text = module.read_text()
        method, url = GENERATED_METHOD.search(text), GENERATED_URL.search(text)
        if method and url:
            assert "def sync_detailed(" in text, module
            generated.add((method[1], url[1]))
    assert operations(document) - generated == set()
    assert len(generated) == len(operations(document))
