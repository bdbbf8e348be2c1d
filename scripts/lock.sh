#!/usr/bin/env bash
# Regenerate the lock files from the human-edited requirements*.txt, with a sha256 hash for every
# transitive package, resolved against pip's configured index. `make run`, `make test` and
# `make bench` install only from the locks (pip --require-hashes), so run this after any change to
# a requirements file and commit the locks with it:
#
#   bash scripts/lock.sh            # keep every pin that still fits, resolve only what changed
#   bash scripts/lock.sh --upgrade  # re-resolve everything to the newest allowed versions
#
# The dev lock is seeded from the runtime lock and the bench lock from the dev lock, so a package
# has the same version in all three (checked at the end). pip-tools runs from a throwaway venv,
# never the project's.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
PIP_TOOLS_VERSION=7.6.2
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet "pip-tools==$PIP_TOOLS_VERSION" 2>&1 | grep -v "is ignored" || true

compile() {  # compile OUTPUT SEED INPUT...
  local output=$1 seed=$2
  shift 2
  # An existing lock is pip-compile's preference list; a new one starts from the layer below.
  if [ ! -f "$output" ] && [ -n "$seed" ]; then cp "$seed" "$output"; fi
  echo "== $output from $*"
  "$tools/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
    "${@:-}" -o "$output" 2>&1 | grep -v "is ignored" || true
  test -s "$output"
}

extra=()
if [ "${1:-}" = "--upgrade" ]; then extra=(--upgrade); fi
compile requirements.lock "" "${extra[@]}" requirements.txt
compile requirements-dev.lock requirements.lock "${extra[@]}" requirements-dev.txt
compile requirements-bench.lock requirements-dev.lock "${extra[@]}" requirements-dev.txt requirements-bench.txt

# One version per package across the three locks: each layer installs on top of the one below.
"$tools/venv/bin/python" - <<'PY'
import re
import sys

pins = {}
for lock in ("requirements.lock", "requirements-dev.lock", "requirements-bench.lock"):
    for line in open(lock):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            seen = pins.setdefault(name, (match[2], lock))
            if seen[0] != match[2]:
                sys.exit(f"{name} is {seen[0]} in {seen[1]} but {match[2]} in {lock}: delete the locks and run again.")
print("Locks written; every package has one version across them.")
PY
