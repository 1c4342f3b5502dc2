"""hot reads: one row of a tenant's table by id in a single statement (tenant set inside it)

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade(app_role: str) -> None:
    # Called as ``SELECT * FROM bpo_row_by_id($1, NULL::clients, $2)``: the row type names the table.
    # It runs as its caller (row-level security applies as to any read of the application role); the
    # tenant is set for the statement inside it, before the read, and what was set before is put back,
    # so a call inside a longer transaction leaves that transaction's tenant as it found it.
    op.execute(
        """
        CREATE FUNCTION bpo_row_by_id(tenant uuid, kind anyelement, row_id uuid)
        RETURNS SETOF anyelement
        LANGUAGE plpgsql VOLATILE SECURITY INVOKER
        AS $body$
        DECLARE
            previous text := current_setting('bpo.tenant_id', true);
        BEGIN
            IF tenant IS NULL THEN
                RAISE EXCEPTION 'bpo_row_by_id: no tenant';
            END IF;
            PERFORM set_config('bpo.tenant_id', tenant::text, true);
            RETURN QUERY EXECUTE format('SELECT * FROM %s WHERE id = $1', pg_typeof(kind)) USING row_id;
            PERFORM set_config('bpo.tenant_id', coalesce(previous, ''), true);
        END
        $body$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION bpo_row_by_id(uuid, anyelement, uuid) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION bpo_row_by_id(uuid, anyelement, uuid) TO {app_role}")


def downgrade(app_role: str) -> None:
    op.execute("DROP FUNCTION bpo_row_by_id(uuid, anyelement, uuid)")
