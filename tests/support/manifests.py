"""Tenant manifests in tests: one loaded from its data, and everything a tenant holds read back."""

from __future__ import annotations

from typing import Any

import yaml

from bpo.onboarding.manifest import Manifest, load_manifest
from bpo.settings import Settings
from tests.support.database import owner_connection

TENANT_TABLES = """
SELECT c.relname,
       coalesce((SELECT array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
                 FROM pg_index i JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS key
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute t
              WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped)
ORDER BY c.relname
"""


async def dump(settings: Settings, slug: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tenant, in every tenant table and the tenants row itself, all columns, ordered by
    primary key (by the whole row where a table has none), read as the owner (no RLS in the way)."""
    owner = await owner_connection(settings)
    try:
        tenant = await owner.fetchrow("SELECT * FROM tenants WHERE slug = $1", slug)
        assert tenant is not None
        rows = {"tenants": [tuple(tenant.values())]}
        for table in await owner.fetch(TENANT_TABLES):
            order = ", ".join(f'"{column}"' for column in table["key"]) or "t::text"
            records = await owner.fetch(
                f'SELECT * FROM "{table["relname"]}" t WHERE tenant_id = $1 ORDER BY {order}', tenant["id"]
            )
            rows[table["relname"]] = [tuple(r.values()) for r in records]
        return rows
    finally:
        await owner.close()


def load(data: dict[str, Any]) -> Manifest:
    manifest, problems = load_manifest(yaml.safe_dump(data))
    assert manifest is not None, problems
    return manifest
