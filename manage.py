#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metacortex.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError, ProgrammingError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - reads the environment: a bad value is one sentence, not a traceback
    except ImproperlyConfigured as exc:
        sys.exit(f"MetaCortex cannot start: {exc}")
    try:
        execute_from_command_line(sys.argv)
    except (OperationalError, ProgrammingError) as exc:
        # The database itself (unreachable, missing, not migrated): one sentence an operator can act on.
        # Other database errors, and any with --traceback, keep their traceback.
        sentence = _database_problem(exc)
        if sentence is None or "--traceback" in sys.argv:
            raise
        sys.exit(sentence)


def _database_problem(exc) -> str | None:
    from django.db.utils import OperationalError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        if sys.argv[1:2] == ["migrate"]:
            return None  # a migration's own failure: its traceback matters
        return f"The database is not migrated ({text}): run `python manage.py migrate` first."
    if isinstance(exc, OperationalError):
        return (
            f"MetaCortex cannot use its database ({text}). Check DATABASE_URL, and that the database server "
            "is running and the database exists (--traceback shows the details)."
        )
    return None


if __name__ == "__main__":
    main()
