"""the frozen-lines wall checks a statement's lines at once

The lines of an invoice that is no longer a draft never change. The wall used to look up the invoice of
every line inserted, updated or deleted, one by one; a month-end run writes and replaces thousands of
lines, and that lookup cost more than writing them. It now looks at every line of a statement at once,
from the statement's transition tables, after the statement and before its transaction goes on: a line of
a finalized (or paid, void, uncollectible) invoice still fails the whole statement, as before.

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A PL/pgSQL function is compiled for each trigger on its own: each trigger's statements name only the
# transition tables it has.
FROZEN_LINES = """
CREATE FUNCTION invoice_lines_frozen_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    invoice_status text;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT i.status INTO invoice_status FROM invoices AS i
        WHERE (i.tenant_id, i.id) IN (SELECT tenant_id, invoice_id FROM new_lines) AND i.status <> 'draft'
        LIMIT 1;
    END IF;
    IF invoice_status IS NULL AND TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT i.status INTO invoice_status FROM invoices AS i
        WHERE (i.tenant_id, i.id) IN (SELECT tenant_id, invoice_id FROM old_lines) AND i.status <> 'draft'
        LIMIT 1;
    END IF;
    IF invoice_status IS NOT NULL THEN
        RAISE EXCEPTION 'the lines of a % invoice cannot be changed', invoice_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = (
    ("invoice_lines_frozen_insert", "INSERT", "REFERENCING NEW TABLE AS new_lines"),
    ("invoice_lines_frozen_update", "UPDATE", "REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines"),
    ("invoice_lines_frozen_delete", "DELETE", "REFERENCING OLD TABLE AS old_lines"),
)

FROZEN_LINE = """
CREATE FUNCTION invoice_lines_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line invoice_lines%ROWTYPE := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    invoice_status text;
BEGIN
    SELECT status INTO invoice_status FROM invoices
    WHERE tenant_id = line.tenant_id AND id = line.invoice_id;
    IF invoice_status IS NOT NULL AND invoice_status <> 'draft' THEN
        RAISE EXCEPTION 'the lines of a % invoice cannot be changed', invoice_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN line;
END
$$
"""


def upgrade(app_role: str) -> None:
    op.execute("DROP TRIGGER invoice_lines_frozen ON invoice_lines")
    op.execute("DROP FUNCTION invoice_lines_frozen()")
    op.execute(FROZEN_LINES)
    for name, event, referencing in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON invoice_lines {referencing} "
            "FOR EACH STATEMENT EXECUTE FUNCTION invoice_lines_frozen_statement()"
        )


def downgrade(app_role: str) -> None:
    for name, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON invoice_lines")
    op.execute("DROP FUNCTION invoice_lines_frozen_statement()")
    op.execute(FROZEN_LINE)
    op.execute(
        "CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION invoice_lines_frozen()"
    )
