"""The lock files are the install source (`make run`, `make test`): they must hold every pin of the
human-edited requirements*.txt, with hashes, and the urllib3 this process runs must be the
urllib3-future the lock pins, whose private connection internals the SSRF guard overrides."""

from __future__ import annotations

import inspect
import re
import socket
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {
    "requirements.txt": "requirements.lock",
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements-bench.txt": "requirements-bench.lock",
}
RELOCK = "run `bash scripts/lock.sh` and commit the lock files"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_name(match[1])] = match[2]
    return pins


def _locked_entries(path: Path) -> dict[str, str]:
    """name -> the entry's full text (the pin line and its --hash continuation lines)."""
    entries, current = {}, None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = _name(match[1])
            entries[current] = line
        elif current and line.startswith("    --hash="):
            entries[current] += "\n" + line
        elif not line.startswith(" "):
            current = None
    return entries


@pytest.mark.parametrize("requirements", sorted(LOCKS))
def test_every_requirement_pin_is_in_its_lock_at_the_same_version(requirements):
    lock = ROOT / LOCKS[requirements]
    assert lock.exists(), f"{lock.name} is missing: {RELOCK}."
    locked = _pins(lock)
    for name, pinned in _pins(ROOT / requirements).items():
        assert locked.get(name) == pinned, (
            f"{requirements} pins {name}=={pinned} but {lock.name} has {locked.get(name)}: {RELOCK}."
        )


@pytest.mark.parametrize("lock", sorted(LOCKS.values()))
def test_every_locked_package_carries_a_sha256_hash(lock):
    entries = _locked_entries(ROOT / lock)
    assert len(entries) > 20
    for name, entry in entries.items():
        assert "--hash=sha256:" in entry, f"{name} has no hash in {lock}: {RELOCK}."


def test_urllib3_is_the_locked_urllib3_future():
    """caldav's niquests brings urllib3-future, which installs over urllib3's files. The SSRF guard
    is written against urllib3-future; installing plain urllib3 after it would swap the package
    under the guard."""
    import urllib3

    locked = _pins(ROOT / "requirements.lock")
    assert "urllib3-future" in locked, f"urllib3-future must be pinned in requirements.lock: {RELOCK}."
    assert version("urllib3-future") == locked["urllib3-future"]
    assert urllib3.__version__ == locked["urllib3-future"], (
        f"urllib3 {urllib3.__version__} is imported, not urllib3-future {locked['urllib3-future']}: "
        "reinstall from the lock (plain urllib3 was installed over it)."
    )


def test_the_urllib3_internals_the_ssrf_guard_overrides_are_where_it_expects():
    """connectors/http.py opens every socket by overriding HTTPConnection._new_conn and reading
    _dns_host, port, timeout, source_address and socket_options; it turns HTTP/3 off with the pool's
    disabled_svn. If a urllib3-future upgrade moves any of these, the guard would silently stop
    guarding: this fails first, naming what moved."""
    from urllib3 import HttpVersion
    from urllib3.connection import HTTPConnection

    assert "_new_conn" in HTTPConnection.__dict__, "HTTPConnection no longer defines _new_conn"
    connect = inspect.getsource(HTTPConnection.connect)
    assert "self._new_conn(" in connect, "HTTPConnection.connect no longer opens its socket via _new_conn"
    parameters = inspect.signature(HTTPConnection.__init__).parameters
    for keyword in ("timeout", "source_address", "socket_options", "disabled_svn"):
        assert keyword in parameters, f"HTTPConnection no longer takes {keyword}="
    connection = HTTPConnection("example.org", 8080, timeout=3.0, source_address=None)
    for attribute in ("_dns_host", "port", "timeout", "source_address", "socket_options"):
        assert hasattr(connection, attribute), f"HTTPConnection has no {attribute} any more"
    assert connection._dns_host == "example.org"
    assert connection.port == 8080
    assert HttpVersion.h3 is not None


def test_a_guarded_urllib3_connection_really_goes_through_the_guard(settings):
    """The override still takes effect: a guarded connection to a loopback listener the allowlist
    does not name is refused before connecting, while a plain urllib3 connection reaches it."""
    from urllib3.connection import HTTPConnection

    from connectors.errors import ConnectorError
    from connectors.http import _GuardedHTTPConnection

    settings.SSRF_ALLOWED_HOSTS = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        plain = HTTPConnection("127.0.0.1", port, timeout=5)
        plain.connect()
        plain.close()
        guarded = _GuardedHTTPConnection("127.0.0.1", port, timeout=5)
        with pytest.raises(ConnectorError):
            guarded.connect()
