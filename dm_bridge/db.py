"""Database statements the ORM has no method for, built from ORM querysets (every backend).

Kept to what a hot path needs: the webhook receiver runs once per chat message, and a
50-member group DM must not cost 50 model instances and a second round trip.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.db import connections, models
from django.db.models.constants import OnConflict
from django.db.models.sql import UpdateQuery

M = TypeVar("M", bound=models.Model)


def insert_from_select(
    model: type[models.Model], values: dict[str, Any], rows: models.QuerySet[Any]
) -> int:
    """``INSERT INTO model (…) SELECT … FROM rows``, skipping rows that break a unique
    constraint (as ``bulk_create(ignore_conflicts=True)`` does); returns how many were added.

    ``values`` maps each of ``model``'s fields to an expression over ``rows`` (``F("pk")``,
    ``Value(…)``). Nothing is loaded into Python: one statement, one round trip.
    """
    using = rows.db
    connection = connections[using]
    ops, opts = connection.ops, model._meta
    # Every column as a named annotation: the outer SELECT then picks them by alias, in order.
    aliases = {f"dmb_col{i}": expression for i, expression in enumerate(values.values())}
    select, params = (
        rows.annotate(**aliases).values(*aliases).query.get_compiler(using=using).as_sql()
    )
    fields = [opts.get_field(name) for name in values]
    if not all(isinstance(field, models.Field) and field.column for field in fields):
        raise ValueError(f"{model.__name__}: only concrete fields can be inserted ({list(values)})")
    columns = ", ".join(ops.quote_name(str(getattr(field, "column", ""))) for field in fields)
    picked = ", ".join(ops.quote_name(alias) for alias in aliases)
    # Only quoted identifiers and the ORM's own SQL go into the text; values stay parameters.
    insert = (
        f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {ops.quote_name(opts.db_table)}"
    )
    sql = f"{insert} ({columns}) SELECT {picked} FROM ({select}) dmb_rows"  # noqa: S608
    suffix = ops.on_conflict_suffix_sql(opts.fields, OnConflict.IGNORE, [], [])
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} {suffix}".rstrip(), params)
        return max(int(cursor.rowcount), 0)


def update_returning(rows: models.QuerySet[M], **values: Any) -> list[M] | None:
    """``rows.update(**values)`` that also returns the updated rows, in one statement
    (``UPDATE … RETURNING``). None where the database cannot (SQLite before 3.35): the caller
    then updates and reads in two statements.

    For single-table filters (the engine's ``pk`` + lease conditions); rows come back in the
    database's order.
    """
    connection = connections[rows.db]
    if not connection.features.can_return_columns_from_insert:  # the same support, both ways
        return None
    query = cast(UpdateQuery, rows.query.chain(UpdateQuery))
    query.add_update_values(values)
    compiler = query.get_compiler(using=rows.db)
    compiler.pre_sql_setup()
    update, params = compiler.as_sql()
    opts = rows.model._meta
    returning = ", ".join(connection.ops.quote_name(f.column) for f in opts.concrete_fields)
    return list(rows.model._default_manager.raw(f"{update} RETURNING {returning}", params))
