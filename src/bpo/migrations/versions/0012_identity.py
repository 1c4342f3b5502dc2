"""identity: e-mail addresses in one spelling with their skeletons, one login per staff profile

Revision ID: 0012_identity
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bpo.tenancy.emails import email_skeleton, normalize_email

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _normalize_emails() -> None:
    """Every address in its one spelling, with its skeleton. An address whose spelling another user of
    the tenant already has keeps its old one (lower-cased, as it was stored)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT tenant_id, id, email FROM users ORDER BY tenant_id, id")).all()
    taken = {(row.tenant_id, row.email) for row in rows}
    updates = []
    for row in rows:
        email = normalize_email(row.email)
        if email != row.email:
            if (row.tenant_id, email) in taken:
                email = row.email
            else:
                taken.add((row.tenant_id, email))
        updates.append(
            {"tenant_id": row.tenant_id, "id": row.id, "email": email, "skeleton": email_skeleton(email)}
        )
    if updates:
        bind.execute(
            sa.text(
                "UPDATE users SET email = :email, email_skeleton = :skeleton"
                " WHERE tenant_id = :tenant_id AND id = :id"
            ),
            updates,
        )


def _one_login_per_staff_profile() -> None:
    # The staff API links both ways: the login a profile names points back at that profile.
    op.execute(
        """
        UPDATE users SET staff_id = staff.id
        FROM staff
        WHERE staff.tenant_id = users.tenant_id AND staff.user_id = users.id
            AND users.staff_id IS DISTINCT FROM staff.id
        """
    )
    # A staff_id naming no profile of the tenant, or a profile that names another login, is dropped.
    op.execute(
        """
        UPDATE users SET staff_id = NULL
        WHERE staff_id IS NOT NULL AND NOT EXISTS (
            SELECT FROM staff
            WHERE staff.tenant_id = users.tenant_id AND staff.id = users.staff_id
                AND (staff.user_id IS NULL OR staff.user_id = users.id)
        )
        """
    )
    # Of several logins naming one profile that names none, the oldest keeps it.
    op.execute(
        """
        UPDATE users SET staff_id = NULL
        WHERE staff_id IS NOT NULL AND EXISTS (
            SELECT FROM users AS older
            WHERE older.tenant_id = users.tenant_id AND older.staff_id = users.staff_id
                AND older.id < users.id
        )
        """
    )


def upgrade(app_role: str) -> None:
    op.add_column("users", sa.Column("email_skeleton", sa.String(254), nullable=True))
    # Every tenant's rows at once: the owner lifts the forced row security for these statements only (the
    # migration is one transaction).
    op.execute("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE staff NO FORCE ROW LEVEL SECURITY")
    _normalize_emails()
    _one_login_per_staff_profile()
    op.execute("ALTER TABLE staff FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    op.alter_column("users", "email_skeleton", nullable=False)
    op.create_index(
        op.f("ix_users_tenant_id_email_skeleton"), "users", ["tenant_id", "email_skeleton"], unique=False
    )
    op.create_index(
        "uq_users_tenant_id_staff_id",
        "users",
        ["tenant_id", "staff_id"],
        unique=True,
        postgresql_where=sa.text("staff_id IS NOT NULL"),
    )


def downgrade(app_role: str) -> None:
    op.drop_index("uq_users_tenant_id_staff_id", table_name="users")
    op.drop_index(op.f("ix_users_tenant_id_email_skeleton"), table_name="users")
    op.drop_column("users", "email_skeleton")
