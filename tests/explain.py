"""EXPLAIN plans of captured queries on PostgreSQL, for the tests that check a listing is answered
by its index. The table is analyzed first and sequential scans are switched off: on a test's tiny
table a scan is genuinely cheapest, and with scans off one still appears where no index can answer."""

import json

from django.db import connection


def plans_of(sqls: list[str], table: str) -> list[tuple[str, dict]]:
    plans = []
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SET enable_seqscan = off")
        try:
            for sql in sqls:
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
                value = cursor.fetchone()[0]
                plans.append((sql, (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]))
        finally:
            cursor.execute("RESET enable_seqscan")
    return plans


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
