"""Keyset ("older than" / "newer than") pagination over a time column and the primary key,
newest first, for the items page and every records listing (the timeline uses it too).

Order: (time DESC, id DESC), and rows without a time (undated) come last, after the oldest
dated row, themselves newest id first. That order is the same on PostgreSQL (where a plain
DESC would put NULLs first) and SQLite, because the two parts are read by separate queries:

- dated rows:   time IS NOT NULL AND time <= t AND (time < t OR id < i)  ORDER BY time DESC, id DESC
- undated rows: time IS NULL AND id < i                                  ORDER BY time DESC, id DESC

Each one walks an index of (user, time, id) (backwards), so a page deep into the list costs
what the first one costs: no OFFSET, no rows read and thrown away. A page needs one query, two
where it crosses from the dated rows to the undated ones.

A cursor names a position (t, i) and a direction, signed (django.core.signing) so it is opaque
and cannot be edited into something else: `decode` answers None for any cursor this code did not
give out (the pages fall back to their first page, the APIs answer 400).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core import signing
from django.db.models import Q

OLDER, NEWER, TOP = "o", "n", "t"


@dataclass(frozen=True)
class Position:
    """Where a page starts: OLDER than (at, pk), NEWER than (at, pk), or the TOP of the list.
    `at` None is an undated row's position."""

    direction: str
    at: datetime.datetime | None = None
    pk: int | None = None
    # Carried along unchanged from page to page (the records API: the change sequence number at
    # the walk's first page).
    seq: int | None = None


def encode(position: Position, scope: str) -> str:
    value = {"d": position.direction}
    if position.direction != TOP:
        value |= {"t": position.at.isoformat() if position.at else None, "i": position.pk}
    if position.seq is not None:
        value["s"] = position.seq
    return signing.dumps(value, salt=f"keyset:{scope}", compress=False)


def decode(cursor: str | None, scope: str) -> Position | None:
    """The position a cursor names, or None when it is missing, edited, made for another list or
    otherwise not one `encode` gave out."""
    if not cursor or len(cursor) > 500:
        return None
    try:
        value = signing.loads(cursor, salt=f"keyset:{scope}")
    except (signing.BadSignature, ValueError, UnicodeError):
        return None
    if not isinstance(value, dict) or value.get("d") not in (OLDER, NEWER, TOP):
        return None
    seq = value.get("s")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        return None
    if value["d"] == TOP:
        return Position(TOP, seq=seq)
    at, pk = value.get("t"), value.get("i")
    if not isinstance(pk, int) or isinstance(pk, bool) or not (at is None or isinstance(at, str)):
        return None
    try:
        moment = datetime.datetime.fromisoformat(at) if at else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        return None
    return Position(value["d"], moment, pk, seq)


def older_than(row, field: str) -> Position:
    return Position(OLDER, getattr(row, field), row.pk)


def newer_than(row, field: str) -> Position:
    return Position(NEWER, getattr(row, field), row.pk)


def _dated_older(qs, field: str, at, pk):
    qs = qs.filter(**{f"{field}__isnull": False})
    if at is not None:
        # time <= t first: the index range; the tie on equal times is a filter on that range.
        qs = qs.filter(Q(**{f"{field}__lte": at}), Q(**{f"{field}__lt": at}) | Q(pk__lt=pk))
    return qs.order_by(f"-{field}", "-pk")


def _undated_older(qs, field: str, pk):
    qs = qs.filter(**{f"{field}__isnull": True})
    if pk is not None:
        qs = qs.filter(pk__lt=pk)
    # Ordered by the time too, NULL in every row here: the (user, time, id) index's own order, so
    # PostgreSQL reads it backwards from the position. (It does not take `time IS NULL` as making
    # the time column constant; ordered by id alone it walked the primary key through every
    # other person's rows.)
    return qs.order_by(f"-{field}", "-pk")


def _dated_newer(qs, field: str, at, pk):
    qs = qs.filter(**{f"{field}__isnull": False})
    if at is not None:
        qs = qs.filter(Q(**{f"{field}__gte": at}), Q(**{f"{field}__gt": at}) | Q(pk__gt=pk))
    return qs.order_by(field, "pk")


def _undated_newer(qs, field: str, pk):
    return qs.filter(**{f"{field}__isnull": True}, pk__gt=pk).order_by(field, "pk")  # see _undated_older


def older(qs, field: str, at, pk, limit: int, *, undated: bool = True) -> list:
    """Up to `limit` rows older than (at, pk), newest first; at and pk None: from the top.
    An undated position (at None, pk set) continues among the undated rows."""
    if at is None and pk is not None:
        return list(_undated_older(qs, field, pk)[:limit])
    rows = list(_dated_older(qs, field, at, pk)[:limit])
    if undated and len(rows) < limit:
        rows += list(_undated_older(qs, field, None)[: limit - len(rows)])
    return rows


def newer(qs, field: str, at, pk, limit: int) -> list:
    """Up to `limit` rows newer than (at, pk), the closest first (the caller reverses them)."""
    if at is None:
        rows = list(_undated_newer(qs, field, pk)[:limit])
        if len(rows) < limit:
            rows += list(_dated_newer(qs, field, None, None)[: limit - len(rows)])
        return rows
    return list(_dated_newer(qs, field, at, pk)[:limit])


@dataclass
class Page:
    rows: list
    older: Position | None  # the position of the next (older) page, None at the end
    newer: Position | None  # the position of the previous (newer) page, None at the top


def page(qs, field: str, position: Position | None, size: int, *, exists_other_way: bool = True) -> Page:
    """One page at `position` (None or TOP: the top of the list). The link the other way is
    checked with one more cheap query (an indexed EXISTS-like LIMIT 1) when `exists_other_way`."""
    if position is None or position.direction == TOP:
        rows = older(qs, field, None, None, size + 1)
        more, rows = len(rows) > size, rows[:size]
        return Page(rows, older_than(rows[-1], field) if more else None, None)
    if position.direction == OLDER:
        rows = older(qs, field, position.at, position.pk, size + 1)
        more, rows = len(rows) > size, rows[:size]
        has_newer = bool(rows) and (not exists_other_way or bool(newer(qs, field, *_key(rows[0], field), 1)))
        return Page(
            rows, older_than(rows[-1], field) if more else None, newer_than(rows[0], field) if has_newer else None
        )
    rows = newer(qs, field, position.at, position.pk, size + 1)
    more, rows = len(rows) > size, rows[:size][::-1]
    has_older = bool(rows) and (not exists_other_way or bool(older(qs, field, *_key(rows[-1], field), 1)))
    return Page(rows, older_than(rows[-1], field) if has_older else None, newer_than(rows[0], field) if more else None)


def _key(row, field: str) -> tuple:
    return getattr(row, field), row.pk


def capped_count(qs, cap: int) -> tuple[int, bool]:
    """(count, capped): at most `cap` rows are counted (SELECT COUNT(*) FROM (... LIMIT cap + 1));
    capped is True when there are more than `cap`."""
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap
