"""Real headless Chromium (Debian's, driven by Playwright) against pytest-django's live server,
with a real django-q2 worker (`manage.py worker`, the Procfile's, in a subprocess on the test database) for
"Sync now". Missing Chromium or Playwright skips these tests, except under REQUIRE_PEERS=1."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.peers.availability import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
# How long any Playwright wait or locator assertion may take unless it says otherwise: a page of
# the live server on a loaded two-core CI machine (a worker's result gets its own, longer wait).
WAIT_MS = 30_000
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (requirements-dev.txt)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # plain synchronous code, so Django's "called from an async context" guard must stand down.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            try:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            except Exception as exc:  # noqa: BLE001 - a broken install is a missing peer
                unavailable(f"Chromium did not start: {exc}")
            from playwright.sync_api import expect

            expect.set_options(timeout=WAIT_MS)  # Playwright's own default for expect() is 5 s
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def new_page(browser, live_server):
    """new_page(width=1280, timezone_id=None) -> a Playwright page in a fresh browser context on the
    live server (in the given IANA zone, else the machine's).
    Anything the Content-Security-Policy blocked on any page fails the test: a blocked script or
    style is a feature that silently stopped working. So does an HTMX attribute HTMX could not use."""
    contexts, violations, broken = [], [], []

    def make(width: int = 1280, height: int = 900, timezone_id: str | None = None):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": height},
            device_scale_factor=1,
            timezone_id=timezone_id,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("console", lambda m: _watch(m, violations, broken))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, f"the Content-Security-Policy blocked: {violations}"
    assert not broken, f"HTMX could not use an attribute of a page (the feature falls back or stops): {broken}"


# HTMX reports an hx-trigger it cannot parse, or an hx-target that names nothing, only on the
# console, and carries on: a filter that quietly stopped working, or works by luck.
HTMX_MISUSE = ("htmx:syntax:error", "htmx:targetError")


def _watch(message, violations: list, broken: list) -> None:
    if "Content Security Policy" in message.text:
        violations.append(message.text)
    elif message.type == "error" and message.text.startswith(HTMX_MISUSE):
        broken.append(f"{message.text} on {message.page.url if message.page else '?'}")


@pytest.fixture
def worker(subprocess_env, tmp_path):
    """start(allowed_hosts) -> a running `manage.py worker` on the test database; stopped (its
    whole process group) at the end of the test."""
    processes = []

    def start(allowed_hosts: list[str]):
        env = dict(subprocess_env)
        # The worker must read the queue the live server writes to: this process's broker (the
        # test database's ORM queue, or Redis when REDIS_URL is set) under the same cluster name.
        env["Q_CLUSTER_NAME"] = settings.Q_CLUSTER["name"]
        env["Q_WORKERS"] = "1"
        env["SSRF_ALLOWED_HOSTS"] = ",".join(allowed_hosts)
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker"],  # the Procfile's worker: stops at once on a group SIGTERM
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append((process, log))
        return process

    yield start
    for process, log in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def wait_for_scripts(page) -> None:
    """Wait until the page's deferred scripts (htmx, static/js/*.js) have run and set it up.

    page.goto waits for the load event, but a click that follows a link or submits a form returns
    once the new page has started loading (its navigation committed): a step that needs JavaScript
    on that page (a hx-post button, a live filter, a preset chip, what timezone.js fills in) could
    otherwise act before the scripts did, and a plain form post or nothing at all would happen.
    The deferred scripts run, and htmx processes the page, before the load event."""
    page.wait_for_load_state("load")


def log_in(page, email: str) -> None:
    """Log in through the form, as a person does, and wait for the page it leads to."""
    from tests.factories import PASSWORD

    page.goto("/accounts/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.get_by_role("heading", name="My integrations").wait_for()


def hold_scripts(page, scripts):
    """Hold back the scripts matching `scripts` (a slow connection) until the returned release() is
    called. A held request whose page has gone by then is let go quietly."""
    held, released = [], []

    def hold(route):
        if released:
            route.continue_()
        else:
            held.append(route)

    def release():
        released.append(True)
        for route in held:
            with contextlib.suppress(Exception):  # a request of a page already left
                route.continue_()

    page.route(scripts, hold)
    return release


def worker_log(tmp_path) -> str:
    path = tmp_path / "worker.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""
