"""IMAP: a 10,000-message mailbox on a dedicated Dovecot, synced by the hub, by getmail6 and
mbsync (isync, from apt), and by the floor (imapclient alone: SELECT, UID SEARCH ALL, FETCH
BODY.PEEK[] in batches of 500). The contenders take turns in the same rounds; each ratio is the
median of the per-round ratios. Sizes: BENCH_IMAP_MESSAGES, BENCH_IMAP_ROUNDS (or BENCH_ROUNDS).

Targets (issue #13, on PostgreSQL): the hub's full sync within 3x the floor and faster than
mbsync (and getmail6); a no-change re-sync under 0.1 s. On the secondary database (SQLite) the
peers are not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Rounds, is_primary

MESSAGES = int(os.environ.get("BENCH_IMAP_MESSAGES", "10000"))
FLOOR_BATCH = 500
ROUNDS = int(os.environ.get("BENCH_IMAP_ROUNDS", os.environ.get("BENCH_ROUNDS", "3")))
SQLITE_TOO = True  # the hub's rows are also run on SQLite (bench/__main__.py)

_PARAGRAPH = (
    "Thanks for the notes from Tuesday. I went through the numbers again and the second quarter "
    "still looks a little optimistic to me; can we go over the assumptions on Thursday? "
)
_HTML = "<html><body><p>{text}</p><p><a href='https://example.com/{n}'>Read more</a></p></body></html>"


def _message(n: int) -> bytes:
    """Realistic small mail: mostly text/plain, every fifth one multipart/alternative with HTML."""
    text = f"Hello,\r\n\r\n{_PARAGRAPH * (1 + n % 8)}\r\n\r\nBest,\r\nSam {n}\r\n"
    head = (
        f"From: Sam Sender <sam{n % 50}@example.com>\r\nTo: Alice <alice@example.com>, bob@example.com\r\n"
        f"Subject: Quarterly numbers, take {n}\r\nDate: Tue, 05 Mar 2024 {n % 24:02d}:{n % 60:02d}:00 +0100\r\n"
        f"Message-ID: <bench-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
    )
    if n % 5:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()
    html = _HTML.format(text=_PARAGRAPH * 3, n=n)
    return (
        head
        + 'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        + f"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        + f"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--alt--\r\n"
    ).encode()


def _floor(server, user) -> tuple[float, int]:
    from imapclient import IMAPClient

    from tests.peers.dovecot import PASSWORD

    start = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    fetched = 0
    for i in range(0, len(uids), FLOOR_BATCH):
        fetched += len(client.fetch(uids[i : i + FLOOR_BATCH], ["BODY.PEEK[]"]))
    client.logout()
    return time.perf_counter() - start, fetched


def _getmail(server, user) -> tuple[float, int] | None:
    getmail = shutil.which("getmail") or str(Path(sys.executable).parent / "getmail")
    if not os.path.exists(getmail):
        return None
    home = Path(tempfile.mkdtemp(prefix="bench-imap-getmail-"))  # not under a 0700 dir: nobody writes here
    try:
        return _run_getmail(getmail, server, user, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run_getmail(getmail: str, server, user, home: Path) -> tuple[float, int] | None:
    from tests.peers.dovecot import PASSWORD

    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)  # noqa: S103 - getmail delivers as nobody, who must reach the Maildir
    for path in (maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))):
        os.chown(path, 65534, 65534)  # getmail refuses to deliver as root: it delivers as nobody
    rc = home / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\n"
        f'port = {server.port}\nusername = {user}\npassword = {PASSWORD}\nmailboxes = ("INBOX",)\n\n'
        f"[destination]\ntype = Maildir\npath = {maildir}/\nuser = nobody\n\n"
        "[options]\nread_all = true\ndelete = false\nverbose = 0\nmessage_log_verbose = false\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [getmail, f"--rcfile={rc}", f"--getmaildir={home}"], capture_output=True, timeout=900, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(f"  getmail6 failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
        return None
    return seconds, len(os.listdir(maildir / "new")) + len(os.listdir(maildir / "cur"))


def _hub_sync(integration):
    from integrations.sync.engine import run_job
    from integrations.sync.jobs import queue_sync

    start = time.perf_counter()
    job = queue_sync(integration, enqueue=False)
    job = run_job(job.pk)
    return time.perf_counter() - start, job


def _connector_alone(config: dict) -> tuple[float, int]:
    """The connector's own share: fetch and transform every message, no database writes."""
    from connectors.base import Context
    from connectors.registry import registry
    from tests.peers.dovecot import PASSWORD

    connector = registry.get("imap")(Context(config=config, secrets={"password": PASSWORD}, http=None))
    start = time.perf_counter()
    count = 0
    try:
        for batch in connector.list_changes(None):
            for raw in batch.items:
                connector.transform(raw)
                count += 1
    finally:
        connector.close()
    return time.perf_counter() - start, count


def run(report):
    from django.conf import settings

    from integrations.models import IntegrationType, SyncedItem
    from tests.factories import make_integration, make_user
    from tests.peers.dovecot import PASSWORD, find_binary, start_dovecot

    binary = find_binary()
    if not binary or os.geteuid() != 0:
        print("  skipped: Dovecot is not installed (apt-get install dovecot-imapd) or not running as root")
        return
    # Dovecot's processes run as dovecot/nobody: its root must not sit inside a 0700 directory.
    dovecot_root = Path(tempfile.mkdtemp(prefix="bench-imap-dovecot-"))
    server = start_dovecot(dovecot_root, binary, pool=4)
    try:
        user = server.new_user()
        start = time.perf_counter()
        server.deliver(user, (_message(n) for n in range(MESSAGES)))
        print(f"  seeded {MESSAGES} messages in {time.perf_counter() - start:.1f} s")
        _floor(server, user)  # Dovecot indexes the new mail on first access: not part of any timing

        settings.SSRF_ALLOWED_HOSTS = [*settings.SSRF_ALLOWED_HOSTS, server.host]
        owner = make_user(f"bench-imap-{os.getpid()}@example.com")
        itype = IntegrationType.objects.get(slug="imap")
        if itype.handler != "imap" or not itype.is_available:
            itype.handler, itype.is_available = "imap", True
            itype.save(update_fields=["handler", "is_available"])

        # Interleaved rounds (floor, connector alone, hub, getmail6, mbsync), each row's ratio the
        # median of the per-round ratios: the machine is shared, so one slow moment must not decide
        # a row. Each full sync gets its own integration (its own fresh records).
        rounds = Rounds()
        stored_counts, peer_counts = [], {"getmail6": [], "mbsync": []}
        peers_missing = set()
        for n in range(ROUNDS):
            rounds.start()
            rounds.time("floor", _floor, server, user)
            alone, count = _connector_alone(server.config(user))
            if count == MESSAGES:
                rounds.record("alone", alone)
            integration = make_integration(
                owner, itype, name=f"Bench mailbox {n}", config=server.config(user), secrets={"password": PASSWORD}
            )
            full, _job = _hub_sync(integration)
            rounds.record("hub", full)
            stored_counts.append(SyncedItem.objects.filter(integration=integration).count())
            if is_primary():
                for name, peer in (("getmail6", _getmail), ("mbsync", _mbsync)):
                    if name in peers_missing:
                        continue
                    result = peer(server, user)
                    if result is None:
                        peers_missing.add(name)
                        continue
                    rounds.record(name, result[0])
                    peer_counts[name].append(result[1])
            print(f"  round {n + 1}: {rounds.line()}")
        full = rounds.median("hub")
        complete = all(c == MESSAGES for c in stored_counts)
        every = f"median of {ROUNDS} interleaved rounds (hub: {rounds.all('hub')}"
        ratio = rounds.ratio("hub", "floor")
        report.add(
            scenario=f"IMAP full sync, {MESSAGES:,} messages",
            ours=full,
            baseline_name="imapclient floor",
            baseline=rounds.median("floor"),
            measured_ratio=ratio,
            target="<= 3x floor",
            met=ratio <= 3 and complete,
            note=f"{every}; floor: {rounds.all('floor')}); records stored per run: {stored_counts}",
        )
        ratio = rounds.ratio("alone", "floor")
        report.add(
            scenario=f"IMAP fetch + transform only (no database), {MESSAGES:,} messages",
            ours=rounds.median("alone") if rounds.has("alone") else float("inf"),
            baseline_name="imapclient floor",
            baseline=rounds.median("floor"),
            measured_ratio=ratio,
            target="<= 3x floor",
            met=ratio is not None and ratio <= 3,
            note=f"the connector's share of the full sync ({rounds.all('alone')}); "
            "the rest of the full sync is the engine's upsert",
        )
        quiet = Rounds()
        seen = []
        for _ in range(ROUNDS):
            quiet.start()
            seen.append(quiet.time("hub", _hub_sync, integration)[1].seen)
        report.add(
            scenario=f"IMAP no-change re-sync, {MESSAGES:,} messages",
            ours=quiet.median("hub"),
            target="< 0.1 s",
            met=quiet.median("hub") < 0.1 and not any(seen),
            note=f"median of {ROUNDS} ({quiet.all('hub')}); messages fetched: {seen}",
        )
        peers = {
            "getmail6": (
                "getmail6 (pip install -r requirements-bench.txt)",
                "getmail6 delivers each message to the Maildir through a child process and fsyncs each message file",
            ),
            "mbsync": (
                "mbsync (apt-get install isync)",
                "mbsync with its defaults: FSync yes (each message file fsynced before it is renamed "
                "into place), its sync state written at the end",
            ),
        }
        for name, (install, durability) in peers.items():
            scenario = f"IMAP full sync vs {name}, {MESSAGES:,} messages"
            if not rounds.has(name):
                if is_primary():
                    print(f"  {name} is not installed or failed: {install}")
                report.add(
                    scenario=scenario,
                    ours=full,
                    baseline_name=f"{name} (not installed: {install})" if is_primary() else name,
                    target=f"faster than {name}",
                )
                continue
            ratio = rounds.ratio("hub", name)
            report.add(
                scenario=scenario,
                ours=full,
                baseline_name=name,
                baseline=rounds.median(name),
                measured_ratio=ratio,
                target=f"faster than {name}",
                met=ratio < 1 and complete,
                note=f"{every}; {name}: {rounds.all(name)}); messages retrieved per run: {peer_counts[name]}; "
                f"durability: {durability}",
            )
    finally:
        server.stop()
        shutil.rmtree(dovecot_root, ignore_errors=True)


MBSYNC = "/usr/bin/mbsync"
MBSYNC_MISSING = "mbsync is not installed (apt-get install isync): no mbsync row"


def _mbsync(server, user) -> tuple[float, int] | None:
    """mbsync (isync) pulling INBOX into a fresh Maildir, with its defaults (FSync yes: every
    message file is fsynced before it is renamed into place)."""
    binary = shutil.which("mbsync") or (MBSYNC if os.path.exists(MBSYNC) else None)
    if binary is None:
        return None
    from tests.peers.dovecot import PASSWORD

    home = Path(tempfile.mkdtemp(prefix="bench-imap-mbsync-"))
    try:
        maildir = home / "Maildir"
        maildir.mkdir()
        rc = home / "mbsyncrc"
        rc.write_text(
            f"IMAPAccount bench\nHost 127.0.0.1\nPort {server.port}\nUser {user}\nPass {PASSWORD}\n"
            "SSLType None\nAuthMechs LOGIN\n\n"
            "IMAPStore bench-far\nAccount bench\n\n"
            f"MaildirStore bench-near\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
            "Channel bench\nFar :bench-far:\nNear :bench-near:\nPatterns INBOX\nCreate Near\nSync Pull\n"
            f"SyncState {home}/state/\n"
        )
        (home / "state").mkdir()
        start = time.perf_counter()
        done = subprocess.run([binary, "-q", "-c", str(rc), "bench"], capture_output=True, timeout=900, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(f"  mbsync failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
            return None
        inbox = maildir / "INBOX"
        return seconds, sum(len(os.listdir(inbox / sub)) for sub in ("cur", "new") if (inbox / sub).exists())
    finally:
        shutil.rmtree(home, ignore_errors=True)
