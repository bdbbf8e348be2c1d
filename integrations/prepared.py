"""Queries whose SQL the ORM writes once per process. On the API's hottest paths (the token check
of every request, GET /api/v1/integrations) Django spent longer compiling the queryset, about half
a millisecond to a millisecond each time, than the database took to answer it.

A Prepared is built from a function returning a values_list queryset, called once per database
alias with placeholder arguments (values of the right type that no real query uses); each run puts
the real values where the placeholders are among the SQL's parameters and converts the rows with
the ORM's own converters (JSON fields, SQLite's dates and booleans). The SQL is the ORM's: only the
parameters change.

Every other parameter is frozen at the first run: never prepare a queryset whose filters depend on
the moment or the request (an expiry compared with now(), a setting read per request), or it would
keep comparing with the value of the process's first query."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections


class Prepared:
    def __init__(self, build: Callable, *, cursor_setup: Callable | None = None, **placeholders):
        """`build(**placeholders)` returns a values_list queryset; `cursor_setup(cursor, vendor)` may
        adjust the cursor before each run (how a column is read)."""
        self.build, self.placeholders, self.cursor_setup = build, placeholders, cursor_setup
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> tuple:
        compiler = self.build(**self.placeholders).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        where = {}
        for name, marker in self.placeholders.items():
            # Exactly one parameter per placeholder: anything else means the ORM now writes this
            # query differently, and the unpacking fails loudly instead of running the wrong SQL.
            (where[name],) = [n for n, value in enumerate(params) if value == marker]
        return sql, params, where, compiler

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values) -> list:
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compiled.setdefault(using, self._compile(using))
        sql, params, where, compiler = compiled
        params = list(params)
        for name, at in where.items():
            params[at] = values[name]
        connection = connections[using]
        with connection.cursor() as cursor:
            if self.cursor_setup is not None:
                self.cursor_setup(cursor, connection.vendor)
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        # The converters do not touch the connection they were compiled with (they convert values).
        return list(compiler.results_iter([fetched]))
