# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test bench lint migrate bootstrap bootstrap-dev clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come only from the lock files: every transitive package pinned with its sha256, so every
# machine gets the same bytes. requirements*.txt are the human-edited inputs; after changing one,
# regenerate the locks with `bash scripts/lock.sh` and commit them together (a test fails otherwise).
# Re-install only when a lock changed.
$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements.lock requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

$(VENV)/.bench: requirements-bench.lock $(VENV)/.dev
	$(BIN)/pip install --quiet --require-hashes -r requirements-bench.lock
	touch $@

# Order-only on the venv's python (the script uses only the standard library): under `make -j`
# the venv exists first, and a rebuilt venv never makes an existing .env look out of date.
.env: | $(BIN)/python
	$(BIN)/python scripts/write_env.py .env

bootstrap: $(VENV)/.runtime .env
bootstrap-dev: $(VENV)/.dev .env

migrate: bootstrap
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py load_catalogue
	$(BIN)/python manage.py check --database default

# The address people open: also the hub's SITE_URL (links in mails, OAuth redirects) unless one is
# set in the environment or .env. Listening on every interface (HOST=0.0.0.0) is still opened as 127.0.0.1 here; from other
# machines it needs their address in ALLOWED_HOSTS and SITE_URL.
OPEN_HOST := $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))

run: migrate
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	@echo ""
	@echo "  MetaCortex is starting: open http://$(OPEN_HOST):$(PORT)/  (Ctrl-C stops web and worker)"
	@if [ "$(OPEN_HOST)" != "$(HOST)" ]; then echo "  From other machines: set ALLOWED_HOSTS and SITE_URL to this machine's address."; fi
	@echo ""
	site="$${SITE_URL:-$$(sed -n 's/^SITE_URL=//p' .env | tail -n 1)}"; \
		PATH="$(CURDIR)/$(BIN):$$PATH" HOST=$(HOST) SITE_URL="$${site:-http://$(OPEN_HOST):$(PORT)}" \
		$(BIN)/honcho start -f Procfile -p $(PORT)

lint: bootstrap-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: bootstrap-dev lint
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/pytest

screenshots: bootstrap-dev
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser -q

# `make bench [ical caldav ...]`: PostgreSQL by default (BENCH_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/metacortex_bench, created fresh and dropped after), SQLite as a
# second column (BENCH_SQLITE=0 leaves it out). Peers from pip come from requirements-bench.lock;
# the system peers come from apt: BENCH_APT_PACKAGES.
BENCH_APT_PACKAGES := dovecot-imapd isync wrk
ifeq (bench,$(firstword $(MAKECMDGOALS)))
  BENCH_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  ifneq ($(BENCH_ARGS),)
    $(eval $(BENCH_ARGS):;@:)
  endif
endif

bench: bootstrap-dev $(VENV)/.bench
	@command -v mbsync >/dev/null 2>&1 || echo "NOTE: mbsync is missing, the IMAP bench has no mbsync row: sudo apt-get install isync"
	@command -v wrk >/dev/null 2>&1 || echo "NOTE: wrk is missing, the API bench loads the server from Python threads: sudo apt-get install wrk"
	@command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || echo "NOTE: Dovecot is missing, no IMAP rows: sudo apt-get install dovecot-imapd"
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
