"""`make bench`: run every bench/bench_*.py scenario against a fresh database and print the table.

Each module exposes run(report). Benchmarks never assert: they measure and print, and the
table (also written to bench/results/latest.md) goes into the README.

Databases: PostgreSQL by default (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/metacortex_bench, dropped and created fresh for the run), then
SQLite as a second column for the modules that set SQLITE_TOO = True (BENCH_SQLITE=0 leaves it
out). If PostgreSQL cannot be reached the run says so and uses SQLite alone.

Each database gets its own child process (`python -m bench` with BENCH_CHILD=1). The sync engine
and the connectors use Django's default connection, and the process keeps per-database state
(ContentType and catalogue caches keyed by primary keys, the connection's settings read once):
switching the default database inside one process would carry that state across; a fresh process
per database starts clean and runs exactly the code a worker runs.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/metacortex_bench"


def main(selected: list[str]):
    if os.environ.get("BENCH_CHILD") == "1":
        _child(selected)
        return
    workdir = Path(tempfile.mkdtemp(prefix="metacortex-bench-"))
    workdir.chmod(0o755)  # peers running as other users (Dovecot's nobody) read from here
    try:
        _parent(workdir, selected)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _parent(workdir: Path, selected: list[str]):
    sys.path.insert(0, str(ROOT))
    from bench.harness import PRIMARY, SECONDARY, Report

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
    sqlite_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    notes = []
    runs = []  # (label, url, role)
    if url.startswith(("postgres://", "postgresql://")):
        problem = _fresh_postgres(url)
        if problem is None:
            runs.append(("PG", url, PRIMARY))
            if os.environ.get("BENCH_SQLITE", "1") != "0":
                runs.append(("SQLite", sqlite_url, SECONDARY))
        else:
            note = (
                f"PostgreSQL is not reachable at {_display(url)} ({problem}): this run is on SQLite ONLY, "
                "its numbers are not the deployed database's (start PostgreSQL or set BENCH_DATABASE_URL)."
            )
            print(f"NOTE: {note}")
            notes.append(note)
            url = None
            runs.append(("SQLite", sqlite_url, PRIMARY))
    else:
        runs.append(("SQLite" if url.startswith("sqlite") else "DB", url, PRIMARY))

    reports = []
    for label, database_url, role in runs:
        print(f"==== hub on {label} ({'every contender' if role == PRIMARY else 'hub only, as a second column'})")
        out = workdir / f"results-{label}.json"
        child_dir = workdir / label
        child_dir.mkdir()
        child_dir.chmod(0o755)
        env = dict(
            os.environ,
            BENCH_CHILD="1",
            BENCH_ROLE=role,
            BENCH_DB_LABEL=label,
            BENCH_RESULTS=str(out),
            BENCH_WORKDIR=str(child_dir),
            DATABASE_URL=database_url,
        )
        done = subprocess.run([sys.executable, "-m", "bench", *selected], env=env, cwd=str(ROOT), check=False)
        if done.returncode != 0 or not out.exists():
            print(f"NOTE: the {label} run failed (exit {done.returncode})")
            notes.append(f"The {label} run failed (exit {done.returncode}); its column is incomplete.")
            if not out.exists():
                continue
        reports.append(Report.load(out))

    if url and url.startswith(("postgres://", "postgresql://")) and os.environ.get("BENCH_KEEP_DATABASE") != "1":
        _drop_postgres(url)
    if not reports:
        sys.exit("no benchmark run produced results")
    report = reports[0]
    for other in reports[1:]:
        report.merge_secondary(other)
    report.notes = notes + [n for n in report.notes if n not in notes]
    table = report.markdown()
    print("\n" + table)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = "latest.md" if not selected else f"latest-{'-'.join(selected)}.md"
    (results / name).write_text(table + "\n")


def _child(selected: list[str]):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metacortex.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_catalogue", verbosity=0)

    import bench
    from bench.harness import Report, database_label, is_primary, read_durability

    label = database_label()
    report = Report(primary=label)
    report.durability[label] = read_durability()
    print(f"  durability of the hub on {label}: {report.durability[label]}")
    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        if selected and not any(s in module for s in selected):
            continue
        imported = importlib.import_module(f"bench.{module}")
        if not is_primary() and not getattr(imported, "SQLITE_TOO", False):
            continue
        print(f"== {module} ({label})")
        try:
            imported.run(report)
        except Exception:  # noqa: BLE001 - one broken scenario must not lose the others' rows
            traceback.print_exc()
            report.notes.append(f"{module} failed on {label} (see the run's output); its rows are missing.")
        report.dump(Path(os.environ["BENCH_RESULTS"]))  # after each module: a later crash keeps these
    report.dump(Path(os.environ["BENCH_RESULTS"]))


def _display(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{parts.username or ''}@{host}{port}", parts.path, "", ""))


def _maintenance(url: str) -> tuple[str, str]:
    """The server's maintenance database URL and the bench database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "metacortex_bench"
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")), name


def _fresh_postgres(url: str) -> str | None:
    """Drop and create the bench database; None when done, else why PostgreSQL cannot be used."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:  # pragma: no cover - psycopg is a runtime dependency
        return f"psycopg is missing: {exc}"
    maintenance, name = _maintenance(url)
    try:
        with psycopg.connect(
            maintenance.replace("postgres://", "postgresql://", 1), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL for this run
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _drop_postgres(url: str):
    import psycopg
    from psycopg import sql

    maintenance, name = _maintenance(url)
    try:
        with psycopg.connect(
            maintenance.replace("postgres://", "postgresql://", 1), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except Exception as exc:  # noqa: BLE001 - leaving the database behind is harmless
        print(f"NOTE: could not drop the bench database {name}: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
