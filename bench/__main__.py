"""`make bench`: run every bench/bench_*.py scenario against a fresh database and print the table.

Each module exposes run(report). Benchmarks never assert: they measure and print, and the
table (also written to bench/results/latest.md) goes into the README.
"""

import importlib
import os
import pkgutil
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(selected: list[str]):
    workdir = Path(tempfile.mkdtemp(prefix="metacortex-bench-"))
    workdir.chmod(0o755)  # peers running as other users (Dovecot's nobody) read from here
    try:
        _run(workdir, selected)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, selected: list[str]):
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metacortex.settings")
    os.environ["BENCH_WORKDIR"] = str(workdir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_catalogue", verbosity=0)

    from bench.harness import Report

    report = Report()
    import bench

    for module in sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")):
        if selected and not any(s in module for s in selected):
            continue
        print(f"== {module}")
        importlib.import_module(f"bench.{module}").run(report)
    table = report.markdown()
    print("\n" + table)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = "latest.md" if not selected else f"latest-{'-'.join(selected)}.md"
    (results / name).write_text(table + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
