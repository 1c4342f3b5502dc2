"""Row-level security and grants, used by migrations (the only place the schema changes)."""

from __future__ import annotations

from alembic import op

# Tables without tenant_id: readable by the application role, not tenant-scoped. stripe_accounts maps a
# connected account to its tenant for webhooks (its own row policies: see migration 0008).
PLATFORM_TABLES = frozenset({"tenants", "alembic_version", "stripe_accounts"})

TENANT_POLICY = "tenant_isolation"


def create_app_role(app_role: str) -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN
                CREATE ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
            END IF;
        END
        $$;
        """
    )
    # Only when needed: PostgreSQL lets just a superuser name SUPERUSER/BYPASSRLS in ALTER ROLE, even to
    # turn them off, and a managed database's owner (RDS, Cloud SQL) is no superuser.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (
                SELECT FROM pg_roles WHERE rolname = '{app_role}'
                AND (NOT rolcanlogin OR rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole)
            ) THEN
                ALTER ROLE {app_role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END
        $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {app_role}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {app_role}")
    # The session user switches to the app role on connect (single-URL setups).
    op.execute(f"GRANT {app_role} TO CURRENT_USER")


def tenant_table(table: str, app_role: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    """Enable and force RLS on ``table`` with the tenant policy, and grant ``privileges`` to the app role."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"""
        CREATE POLICY {TENANT_POLICY} ON {table}
        USING (tenant_id = NULLIF(current_setting('bpo.tenant_id', true), '')::uuid)
        WITH CHECK (tenant_id = NULLIF(current_setting('bpo.tenant_id', true), '')::uuid)
        """
    )
    op.execute(f"GRANT {privileges} ON {table} TO {app_role}")


def platform_table(table: str, app_role: str, privileges: str = "SELECT") -> None:
    op.execute(f"GRANT {privileges} ON {table} TO {app_role}")
