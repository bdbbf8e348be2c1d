"""Key rotation: re-encrypt every encrypted column with the first key in FERNET_KEYS.

MultiFernet.rotate decrypts with whichever key works and encrypts with the first one, working
on the raw column, so values are never decoded into Python objects or logged along the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken, MultiFernet
from django.db import connection, transaction

from integrations.fields import encrypted_fields
from integrations.models import Actor, AuditAction, AuditEvent


@dataclass
class RotationResult:
    per_field: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.per_field.values())


def rotate_all(*, batch_size: int = 500) -> RotationResult:
    result = RotationResult()
    for model, enc_field in encrypted_fields():
        label = f"{model._meta.label}.{enc_field.name}"
        result.per_field[label] = _rotate_field(model, enc_field, batch_size)
    AuditEvent.record(AuditAction.KEY_ROTATION, actor=Actor.SYSTEM, rotated=result.total, fields=result.per_field)
    return result


def _rotate_field(model, enc_field, batch_size: int) -> int:
    fernet = enc_field.fernet
    multi = fernet if isinstance(fernet, MultiFernet) else MultiFernet([fernet])
    column = enc_field.column
    table = model._meta.db_table
    pk_column = model._meta.pk.column
    count, last_pk = 0, 0
    # Identifiers come from model metadata, never from input; values are bound parameters.
    quote = connection.ops.quote_name
    select = (
        f"SELECT {quote(pk_column)}, {quote(column)} FROM {quote(table)} "  # noqa: S608
        f"WHERE {quote(column)} IS NOT NULL AND {quote(pk_column)} > %s ORDER BY {quote(pk_column)} LIMIT %s"
    )
    update = f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE {quote(pk_column)} = %s"  # noqa: S608
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select, [last_pk, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return count
            for pk, token in rows:
                try:
                    rotated = multi.rotate(bytes(token))
                except InvalidToken:
                    raise RuntimeError(
                        f"{model._meta.label}.{enc_field.name} of row {pk} cannot be decrypted with any key "
                        "in FERNET_KEYS; add the key that encrypted it and run again"
                    ) from None
                cursor.execute(update, [connection.Database.Binary(rotated), pk])
                count += 1
            last_pk = rows[-1][0]
