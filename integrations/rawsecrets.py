"""Encrypted columns as stored: raw Fernet tokens read in primary-key batches.

The key check and key rotation both work on the raw column, so values are never decoded into
model instances (or logged) on the way. Identifiers in the SQL come from model metadata, never
from input; values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.fernet import MultiFernet
from django.db import connection

from integrations.fields import encrypted_fields, key_set


def multi_fernet(enc_field) -> MultiFernet:
    """The field's key set (first key encrypts, all decrypt) as a MultiFernet."""
    return key_set(enc_field)


class EncryptedColumn:
    """One encrypted column of one model's table."""

    def __init__(self, model, enc_field):
        self.model, self.field = model, enc_field
        self.label = f"{model._meta.label}.{enc_field.name}"
        quote = connection.ops.quote_name
        table, column, pk = quote(model._meta.db_table), quote(enc_field.column), quote(model._meta.pk.column)
        self._batch_sql = (
            f"SELECT {pk}, {column} FROM {table} "  # noqa: S608
            f"WHERE {column} IS NOT NULL AND {pk} > %s ORDER BY {pk} LIMIT %s"
        )
        self._row_sql = f"SELECT {column} FROM {table} WHERE {pk} = %s"  # noqa: S608
        # Conditional on the value that was read: a concurrent write (a token refresh) wins.
        self._swap_sql = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608

    def batches(self, batch_size: int) -> Iterator[list[tuple[int, bytes]]]:
        """Every non-null stored value as (pk, token), batch_size rows per query."""
        last_pk = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(self._batch_sql, [last_pk, batch_size])
                rows = [(pk, bytes(token)) for pk, token in cursor.fetchall()]
            if not rows:
                return
            yield rows
            last_pk = rows[-1][0]

    def current(self, pk) -> bytes | None:
        """The stored token of one row now (None when the row or its value is gone)."""
        with connection.cursor() as cursor:
            cursor.execute(self._row_sql, [pk])
            row = cursor.fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def swap(self, pk, old: bytes, new: bytes) -> bool:
        """Write `new` only if the row still holds `old`; False when it changed meanwhile."""
        binary = connection.Database.Binary
        with connection.cursor() as cursor:
            cursor.execute(self._swap_sql, [binary(new), pk, binary(old)])
            return cursor.rowcount == 1


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column of every installed model."""
    return [EncryptedColumn(model, enc_field) for model, enc_field in encrypted_fields()]
