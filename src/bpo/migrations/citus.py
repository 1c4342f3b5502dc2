"""Citus readiness: the schema can be distributed by ``tenant_id`` without change (DESIGN.md §2).

Every table is either tenant-scoped (it has ``tenant_id``: a Citus *distributed* table, sharded by
``tenant_id`` and colocated with the others, so a tenant's rows of every table live on one node) or
declared in ``rls.PLATFORM_TABLES`` (a *reference* table, copied to every node). Citus enforces
primary keys, unique constraints and foreign keys between distributed tables only when they include
the distribution column, hence the composite keys. The catalog is read once into a ``Catalog``;
the checks and the distribution plan are pure functions of it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from bpo.migrations.rls import PLATFORM_TABLES

TENANT_COLUMN = "tenant_id"
TENANT_COLUMN_TYPE = "uuid"
# Migration bookkeeping stays a plain table on the coordinator, where Alembic runs.
LOCAL_TABLES = frozenset({"alembic_version"})

ConstraintKind = Literal["primary key", "unique constraint", "exclusion constraint", "unique index"]


@dataclass(frozen=True)
class Key:
    table: str
    name: str
    kind: ConstraintKind
    # None stands for an expression in an index.
    columns: tuple[str | None, ...]


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    columns: tuple[str, ...]
    references: str
    referenced_columns: tuple[str, ...]


@dataclass(frozen=True)
class TenantColumn:
    not_null: bool
    type: str


@dataclass(frozen=True)
class Catalog:
    tables: frozenset[str]
    tenant_columns: Mapping[str, TenantColumn] = field(default_factory=dict)
    keys: tuple[Key, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def tenant_tables(self) -> frozenset[str]:
        return frozenset(self.tenant_columns)


_TABLES_SQL = """
SELECT c.relname AS table, t.attnotnull AS not_null, format_type(t.atttypid, t.atttypmod) AS type
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute t ON t.attrelid = c.oid AND t.attname = $2 AND NOT t.attisdropped
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

_CONSTRAINTS_SQL = """
SELECT c.relname AS table, con.conname AS name, con.contype::text AS kind, f.relname AS references,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.i)::text[] AS columns,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.i)::text[] AS referenced_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = con.confrelid
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND con.contype IN ('p', 'u', 'x', 'f')
ORDER BY 1, 2
"""

# Unique indexes that back no constraint (CREATE UNIQUE INDEX); key columns only, not INCLUDE ones.
_UNIQUE_INDEXES_SQL = """
SELECT c.relname AS table, ic.relname AS name,
       ARRAY(SELECT a.attname
             FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, o)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.o)::text[] AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND i.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conrelid = i.indrelid AND con.conindid = i.indexrelid
                    AND con.contype IN ('p', 'u', 'x'))
ORDER BY 1, 2
"""

_KEY_KINDS: dict[str, ConstraintKind] = {
    "p": "primary key",
    "u": "unique constraint",
    "x": "exclusion constraint",
}


async def read_catalog(connection: asyncpg.Connection, schema: str = "public") -> Catalog:
    """The tables, keys and foreign keys of ``schema`` as the connection sees them (its transaction too)."""
    tables: set[str] = set()
    tenant_columns: dict[str, TenantColumn] = {}
    for row in await connection.fetch(_TABLES_SQL, schema, TENANT_COLUMN):
        tables.add(row["table"])
        if row["type"] is not None:
            tenant_columns[row["table"]] = TenantColumn(not_null=row["not_null"], type=row["type"])
    keys: list[Key] = []
    foreign_keys: list[ForeignKey] = []
    for row in await connection.fetch(_CONSTRAINTS_SQL, schema):
        if row["kind"] == "f":
            foreign_keys.append(
                ForeignKey(
                    table=row["table"],
                    name=row["name"],
                    columns=tuple(row["columns"]),
                    references=row["references"],
                    referenced_columns=tuple(row["referenced_columns"]),
                )
            )
        else:
            keys.append(Key(row["table"], row["name"], _KEY_KINDS[row["kind"]], tuple(row["columns"])))
    for row in await connection.fetch(_UNIQUE_INDEXES_SQL, schema):
        keys.append(Key(row["table"], row["name"], "unique index", tuple(row["columns"])))
    return Catalog(frozenset(tables), tenant_columns, tuple(keys), tuple(foreign_keys))


def _columns(columns: Iterable[str | None]) -> str:
    return ", ".join(column or "<expression>" for column in columns)


def readiness_problems(catalog: Catalog, platform_tables: Iterable[str] = PLATFORM_TABLES) -> list[str]:
    """Why the schema could not be distributed by tenant_id as it is; empty when it can."""
    platform = frozenset(platform_tables)
    tenant = catalog.tenant_tables
    problems: list[str] = []
    for table in sorted(catalog.tables - tenant - platform):
        problems.append(
            f"{table}: has no {TENANT_COLUMN} and is not declared in rls.PLATFORM_TABLES "
            "(tenant tables are distributed, platform tables replicated)"
        )
    for table in sorted(tenant & platform):
        problems.append(f"{table}: has {TENANT_COLUMN} but is declared in rls.PLATFORM_TABLES")
    for table in sorted(tenant):
        column = catalog.tenant_columns[table]
        if not column.not_null:
            problems.append(f"{table}.{TENANT_COLUMN} allows NULL (a row needs a shard)")
        if column.type != TENANT_COLUMN_TYPE:
            problems.append(
                f"{table}.{TENANT_COLUMN} is {column.type}, not {TENANT_COLUMN_TYPE} "
                "(colocated tables need one distribution column type)"
            )
    for key in catalog.keys:
        if key.table in tenant and TENANT_COLUMN not in key.columns:
            problems.append(
                f"{key.table}: {key.kind} {key.name} ({_columns(key.columns)}) lacks {TENANT_COLUMN}"
            )
    for fk in catalog.foreign_keys:
        described = f"{fk.table}: foreign key {fk.name} ({_columns(fk.columns)}) -> {fk.references}"
        if fk.table in tenant and fk.references in tenant:
            pairs = dict(zip(fk.columns, fk.referenced_columns, strict=True))
            if pairs.get(TENANT_COLUMN) != TENANT_COLUMN:
                problems.append(f"{described} does not match {TENANT_COLUMN} to {TENANT_COLUMN}")
        elif fk.table not in tenant and fk.references in tenant:
            problems.append(f"{described}: a platform table cannot reference a tenant table")
    return problems


class DependencyCycle(ValueError):
    pass


def distribution_order(tables: Iterable[str], foreign_keys: Iterable[tuple[str, str]]) -> list[str]:
    """``tables`` with every referenced table before the tables referencing it (alphabetical otherwise).

    ``foreign_keys`` are (referencing, referenced) pairs; self-references and pairs that leave
    ``tables`` do not constrain the order.
    """
    nodes = set(tables)
    depends_on: dict[str, set[str]] = {table: set() for table in nodes}
    dependents: dict[str, set[str]] = {table: set() for table in nodes}
    for referencing, referenced in foreign_keys:
        if referencing != referenced and referencing in nodes and referenced in nodes:
            depends_on[referencing].add(referenced)
            dependents[referenced].add(referencing)
    ready = [table for table, needs in depends_on.items() if not needs]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        table = heapq.heappop(ready)
        order.append(table)
        for dependent in dependents[table]:
            depends_on[dependent].discard(table)
            if not depends_on[dependent]:
                heapq.heappush(ready, dependent)
    if len(order) != len(nodes):
        stuck = sorted(table for table, needs in depends_on.items() if needs)
        raise DependencyCycle(f"foreign keys form a cycle among: {', '.join(stuck)}")
    return order


@dataclass(frozen=True)
class Step:
    table: str
    kind: Literal["reference", "distributed"]
    # For a distributed table: the table it is colocated with (None for the first one).
    colocate_with: str | None = None

    def sql(self) -> tuple[str, list[str]]:
        if self.kind == "reference":
            return "SELECT create_reference_table($1::regclass)", [self.table]
        if self.colocate_with is None:
            return (
                "SELECT create_distributed_table($1::regclass, $2, colocate_with => 'none')",
                [self.table, TENANT_COLUMN],
            )
        return (
            "SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)",
            [self.table, TENANT_COLUMN, self.colocate_with],
        )


def distribution_plan(catalog: Catalog, platform_tables: Iterable[str] = PLATFORM_TABLES) -> list[Step]:
    """Reference tables first, then every tenant table colocated with the first one; each table comes
    after the tables it references."""
    edges = [(fk.table, fk.references) for fk in catalog.foreign_keys]
    reference = (frozenset(platform_tables) & catalog.tables) - catalog.tenant_tables - LOCAL_TABLES
    steps = [Step(table, "reference") for table in distribution_order(reference, edges)]
    distributed = distribution_order(catalog.tenant_tables, edges)
    steps += [
        Step(table, "distributed", None if i == 0 else distributed[0]) for i, table in enumerate(distributed)
    ]
    return steps


async def citus_version(connection: asyncpg.Connection) -> str | None:
    version: str | None = await connection.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'citus'"
    )
    return version


async def apply_plan(
    connection: asyncpg.Connection, plan: Iterable[Step], report: Callable[[Step, bool], None]
) -> None:
    """Run the plan's steps not done yet (Citus metadata says which), one statement each, calling
    ``report(step, ran)`` after each. Outside a transaction each step commits on its own, so a run that
    stops part-way is finished by running it again."""
    rows = await connection.fetch("SELECT logicalrelid::regclass::text AS table FROM pg_dist_partition")
    done = {row["table"] for row in rows}
    for step in plan:
        if step.table in done:
            report(step, False)
            continue
        sql, args = step.sql()
        await connection.execute(sql, *args)
        report(step, True)
