"""Missing peers skip their tests with a reason, except under REQUIRE_PEERS=1 (CI), where a
missing peer is a failure: CI must never pass by skipping the real-server tests."""

import os
import shutil
import socket

import pytest

REQUIRE_PEERS = os.environ.get("REQUIRE_PEERS") == "1"


def unavailable(reason: str):
    if REQUIRE_PEERS:
        pytest.fail(f"REQUIRE_PEERS=1 but a peer is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        unavailable(f"{name} is not installed ({hint})")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def serve_in_tempdir(prefix: str, start):
    """Yield start(root) for a fresh temp dir, as a fixture body: a peer that fails to start is
    unavailable (skip, or fail under REQUIRE_PEERS=1); the peer is stopped and its dir removed."""
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start(root)
    except RuntimeError as exc:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
