"""Key rotation: re-encrypt every encrypted column with the first key in FERNET_KEYS.

MultiFernet.rotate decrypts with whichever key works and encrypts with the first one, working
on the raw column, so values are never decoded into Python objects or logged along the way.

Rows are read in batches and written back only if they still hold the value that was read
(`UPDATE ... WHERE pk = %s AND col = %s`): a token refresh that commits in between is never
overwritten with the old token. Such a row is read again and rotated from its new value; one
that keeps changing is left alone and reported, so the old key is not removed too early.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.db import transaction

from integrations.models import Actor, AuditAction, AuditEvent
from integrations.rawsecrets import EncryptedColumn, encrypted_columns, multi_fernet

# Attempts per row when a concurrent write keeps replacing its value under us.
MAX_ATTEMPTS = 3


class RotationIncomplete(RuntimeError):
    """Some values still use an older key: the old key must stay in FERNET_KEYS."""


@dataclass
class RotationResult:
    per_field: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: dict[str, int] = field(default_factory=dict)  # rotated again from a newer value
    skipped: dict[str, int] = field(default_factory=dict)  # kept changing: left for the next run

    @property
    def total(self) -> int:
        return sum(self.per_field.values())


def rotate_all(*, batch_size: int = 500) -> RotationResult:
    result = RotationResult()
    for column in encrypted_columns():
        rotated, changed, skipped = _rotate_column(column, batch_size)
        result.per_field[column.label] = rotated
        if changed:
            result.changed_meanwhile[column.label] = changed
        if skipped:
            result.skipped[column.label] = skipped
    AuditEvent.record(
        AuditAction.KEY_ROTATION,
        actor=Actor.SYSTEM,
        rotated=result.total,
        fields=result.per_field,
        changed_meanwhile=result.changed_meanwhile,
        skipped=result.skipped,
    )
    if result.skipped:
        where = ", ".join(f"{count} of {label}" for label, count in result.skipped.items())
        raise RotationIncomplete(
            f"rotated {result.total} values, but {where} kept changing while being rotated and may still "
            "use an older key; run rotate_keys again before removing any key from FERNET_KEYS"
        )
    return result


def _rotate_column(column: EncryptedColumn, batch_size: int) -> tuple[int, int, int]:
    rotated = changed = skipped = 0
    for rows in column.batches(batch_size):
        batch = rotate_rows(column, rows)
        rotated, changed, skipped = rotated + batch[0], changed + batch[1], skipped + batch[2]
    return rotated, changed, skipped


def rotate_rows(column: EncryptedColumn, rows: list[tuple[int, bytes]]) -> tuple[int, int, int]:
    """Rotate rows read earlier, as (pk, token). Returns (rotated, changed meanwhile, skipped)."""
    multi = multi_fernet(column.field)
    rotated = changed = skipped = 0
    with transaction.atomic():  # one commit per batch
        for pk, token in rows:
            for attempt in range(MAX_ATTEMPTS):
                if column.swap(pk, token, _rotate(multi, column, pk, token)):
                    rotated += 1
                    changed += attempt > 0
                    break
                token = column.current(pk)  # someone wrote it after we read it: start from theirs
                if token is None:
                    break  # deleted meanwhile: nothing left to rotate
            else:
                skipped += 1
    return rotated, changed, skipped


def _rotate(multi, column: EncryptedColumn, pk, token: bytes) -> bytes:
    try:
        return multi.rotate(token)
    except InvalidToken:
        raise RuntimeError(
            f"{column.label} of row {pk} cannot be decrypted with any key in FERNET_KEYS; "
            "add the key that encrypted it and run again"
        ) from None
