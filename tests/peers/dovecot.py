"""Dovecot, the real IMAP peer: started once per test session (`dovecot -F -c FILE`) on a free
port with a self-contained config in a temp dir, stopped by PID at the end.

Tests get their own mailbox user (`dovecot.new_user()`, added to the passwd-file while the
server runs: Dovecot re-reads it when it changes), so they never see each other's mail. Seeding
writes message files straight into Maildir/new (chowned to nobody), the fastest way in
(PEERS.md: 10,000 messages in 13 s); folders are created and deleted over IMAP as the user.
The benchmark starts its own instance with `start_dovecot()`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.peers.availability import free_port, serve_in_tempdir, unavailable, wait_for_port
from tests.waiting import wait_for

NOBODY_UID = NOBODY_GID = 65534
PASSWORD = "mail-secret-42"
UNAVAILABLE_USER = "unavailable-1"  # any unavailable-* user: the server's password backend is down for them

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 100

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}

# Users named unavailable-* have a password backend that is down: checkpassword exits 111
# ("temporary problem"), and Dovecot answers their LOGIN with NO [UNAVAILABLE] Temporary
# authentication failure, as a real server does while its user database is unreachable.
passdb {{
  driver = checkpassword
  args = {root}/passdb-down.sh
  username_filter = unavailable-*
}}

userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}

service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}

# No auth penalty: a wrong-password test must not slow every later login from 127.0.0.1
# (Dovecot delays them up to 15 s). An unusable anvil-auth-penalty socket turns it off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def make_message(
    subject: str = "Hello",
    body: str = "Hello there.",
    *,
    sender: str = "Sender <sender@example.com>",
    to: str = "Alice <alice@example.com>",
    date: str = "Tue, 05 Mar 2024 14:30:00 +0000",
    message_id: str | None = None,
) -> bytes:
    """A small, well-formed text/plain message (bytes, CRLF), fast enough to make thousands."""
    message_id = message_id or f"<{uuid.uuid4().hex}@example.com>"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def _chown_tree(path: Path):
    for dirpath, _dirnames, filenames in os.walk(path):
        os.chown(dirpath, NOBODY_UID, NOBODY_GID)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), NOBODY_UID, NOBODY_GID)


@dataclass
class DovecotServer:
    root: Path
    port: int
    binary: str
    process: subprocess.Popen | None = None
    users: dict[str, str] = field(default_factory=dict)
    _handed_out: set = field(default_factory=set)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def host(self) -> str:
        """The SSRF allowlist entry that opens the guard for this server."""
        return f"127.0.0.1:{self.port}"

    def config(self, user: str, **extra) -> dict:
        """An integration config for this server and user (plain IMAP, no TLS)."""
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "username": user, **extra}

    # -- users -------------------------------------------------------------------------------
    def new_user(self, prefix: str = "user") -> str:
        """A fresh mailbox user (password PASSWORD) with an empty INBOX.

        Users come from a pool written into the passwd-file before the server starts: Dovecot
        re-reads a changed passwd-file at most once a second, too slow to add one per test.
        """
        try:
            user = next(u for u in self.users if u not in self._handed_out)
        except StopIteration:  # pool exhausted: add one, and wait until Dovecot has read it
            user = f"{prefix}-{uuid.uuid4().hex[:8]}"
            self.users[user] = PASSWORD
            self._write_passwd()
            self.maildir(user)
            wait_for(lambda: self._logs_in(user), seconds=30)
        self._handed_out.add(user)
        self.maildir(user)
        return user

    def _write_passwd(self):
        path = self.root / "passwd"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        os.replace(tmp, path)

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir path of a folder (created if missing, owned by nobody)."""
        base = self.root / "mail" / user / "Maildir"
        path = base if folder == "INBOX" else base / ("." + folder.replace("/", "."))
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        _chown_tree(self.root / "mail" / user)
        return path

    # -- seeding -----------------------------------------------------------------------------
    def deliver(self, user: str, messages, folder: str = "INBOX", *, received: float | None = None) -> int:
        """Write raw messages (bytes) into Maildir/new of a folder; returns how many.

        `received` (a timestamp) sets the file time, which Dovecot reports as INTERNALDATE.
        """
        new = self.maildir(user, folder) / "new"
        count = 0
        stamp = int(time.time())
        for raw in messages:
            if isinstance(raw, str):
                raw = raw.encode()
            name = f"{stamp}.M{next(self._serial)}P{os.getpid()}.peer,S={len(raw)}"
            path = new / name
            path.write_bytes(raw)
            os.chown(path, NOBODY_UID, NOBODY_GID)
            if received is not None:
                os.utime(path, (received, received))
            count += 1
        return count

    # -- acting as the user over IMAP -------------------------------------------------------
    def client(self, user: str):
        """A plain imapclient connection logged in as the user (the test's own hands)."""
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, self.users[user])
        return client

    def _logs_in(self, user: str) -> bool:
        from imapclient.exceptions import LoginError

        try:
            self.client(user).logout()
        except LoginError:
            return False
        return True

    def create_folder(self, user: str, folder: str):
        with self.client(user) as client:
            client.create_folder(folder)

    def delete_folder(self, user: str, folder: str):
        with self.client(user) as client:
            client.delete_folder(folder)

    def reset_folder(self, user: str, folder: str, messages=()) -> int:
        """Delete and recreate a folder (it gets a new UIDVALIDITY), refilled with `messages`
        (or with what it held before when none are given). Returns the new UIDVALIDITY."""
        with self.client(user) as client:
            if not messages:
                client.select_folder(folder, readonly=True)
                uids = client.search("ALL")
                fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
                messages = [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]
                client.unselect_folder() if client.has_capability("UNSELECT") else client.close_folder()
            if folder == "INBOX":
                # INBOX cannot be deleted: empty it and drop Dovecot's UID list instead.
                client.select_folder("INBOX")
                uids = client.search("ALL")
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
                client.close_folder()
            else:
                client.delete_folder(folder)
                client.create_folder(folder)
        if folder == "INBOX":
            base = self.root / "mail" / user / "Maildir"
            for name in ("dovecot-uidlist", "dovecot.index", "dovecot.index.log", "dovecot.index.cache"):
                (base / name).unlink(missing_ok=True)
        self.deliver(user, messages, folder)
        with self.client(user) as client:
            return client.select_folder(folder, readonly=True)[b"UIDVALIDITY"]

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple]:
        """{uid: flags} as the server holds them (read with EXAMINE: changes nothing)."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def find_binary() -> str | None:
    path = shutil.which("dovecot") or "/usr/sbin/dovecot"
    return path if os.path.exists(path) else None


def start_dovecot(root: Path, binary: str, *, pool: int = 300, extra_config: str = "") -> DovecotServer:
    """Write a self-contained config under `root`, check it, start Dovecot in the foreground,
    with `pool` users (user-001...) ready for `new_user()`; `extra_config` is appended."""
    root = Path(root).resolve()
    closed = [p for p in root.parents if os.path.isdir(p) and not os.stat(p).st_mode & 0o001]
    if closed:
        raise RuntimeError(
            f"{closed[0]} is not traversable by other users; Dovecot's auth (user dovecot) and mail "
            "(user nobody) processes need to reach the files under it: use a directory like /tmp"
        )
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # noqa: S103 - Dovecot's dovecot/nobody processes must reach the files
    os.chown(root / "mail", NOBODY_UID, NOBODY_GID)
    port = free_port()
    users = {f"user-{n:03d}": PASSWORD for n in range(1, pool + 1)}
    (root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
    down = root / "passdb-down.sh"
    down.write_text("#!/bin/sh\nexit 111\n")  # checkpassword's "temporary problem"
    down.chmod(0o755)
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, uid=NOBODY_UID, gid=NOBODY_GID) + extra_config)
    check = subprocess.run([binary, "-n", "-c", str(config)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"Dovecot rejected its config: {check.stderr.strip()[-2000:]}")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=root
    )
    server = DovecotServer(root=root, port=port, binary=binary, process=process, users=users)
    if not wait_for_port(port, timeout=60) or process.poll() is not None:
        server.stop()
        log = root / "dovecot.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"Dovecot did not start on port {port}: {detail}")
    return server


# An IMAP server without CONDSTORE (older or minimal servers): flag changes must be found by
# comparing flags. imap_capability replaces the capability list Dovecot announces after login.
WITHOUT_CONDSTORE = "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE UIDPLUS UNSELECT NAMESPACE CHILDREN\n"


def _serve(extra_config: str = "", pool: int = 300):
    binary = find_binary()
    if not binary:
        unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        unavailable("the Dovecot peer runs as root (it switches to nobody for the mail)")
    yield from serve_in_tempdir(
        "dovecot-peer-", lambda root: start_dovecot(root, binary, pool=pool, extra_config=extra_config)
    )


@pytest.fixture(scope="session")
def dovecot():
    yield from _serve()


@pytest.fixture(scope="session")
def dovecot_without_condstore():
    yield from _serve(WITHOUT_CONDSTORE, pool=20)
