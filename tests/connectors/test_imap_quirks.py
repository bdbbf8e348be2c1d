"""IMAP servers that answer a little differently from Dovecot, reproduced by a small TCP proxy in
front of the real Dovecot that rewrites what the server says, as those servers say it."""

from __future__ import annotations

import contextlib
import re
import socket
import threading

import pytest

from tests.connectors.test_imap_sync import by_message_id, mailbox, make_message, sync  # noqa: F401

pytestmark = [pytest.mark.peer, pytest.mark.django_db]


class RewritingProxy:
    """Forwards one port to Dovecot; every line the server sends passes through `rewrite`."""

    def __init__(self, upstream: tuple[str, int], rewrite):
        self.upstream, self.rewrite = upstream, rewrite
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            server = socket.create_connection(self.upstream)
            self.conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, self.rewrite), daemon=True).start()

    def _pipe(self, source, target, rewrite):
        pending = b""
        try:
            while chunk := source.recv(65536):
                if rewrite is None:
                    target.sendall(chunk)
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\r\n")
                rewritten = [rewrite(line) for line in lines]  # None: the line is left out
                if lines:
                    target.sendall(b"".join(line + b"\r\n" for line in rewritten if line is not None))
        except OSError:
            pass
        finally:
            for conn in (source, target):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.stop.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def quirky(mailbox, allow_host):  # noqa: F811
    proxies = []

    def through(rewrite):
        proxy = RewritingProxy(("127.0.0.1", mailbox.server.port), rewrite)
        proxies.append(proxy)
        allow_host(f"127.0.0.1:{proxy.port}")
        return proxy

    yield through
    for proxy in proxies:
        proxy.close()


PARTIAL_KEY = re.compile(rb"BODY\[\]<0> \{")


@pytest.mark.parametrize(
    "answer",
    [
        b"BODY[] {",  # the partial fetch answered without its origin octet (GreenMail did so)
        b"BODY[]<0.262144> {",  # with the whole range echoed (WildDuck did so)
    ],
)
def test_a_partial_fetch_answered_under_another_name_still_reads_the_message(mailbox, quirky, answer):  # noqa: F811
    """The hub asks BODY.PEEK[]<0.N> and read only the key RFC 3501 names (BODY[]<0>): a server
    that answered under another name made every message an empty body, each reported as "not an
    email message", and the whole mailbox was lost."""
    mailbox.server.deliver(mailbox.user, [make_message("First"), make_message("Second")])
    proxy = quirky(lambda line: PARTIAL_KEY.sub(answer, line))
    integration = mailbox.integration(host="127.0.0.1", port=proxy.port)

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert sorted(item.title for item in by_message_id(integration).values()) == ["First", "Second"]
    assert all(item.data["text"] == "Hello there.\n" for item in by_message_id(integration).values())


UIDVALIDITY_OK = re.compile(rb"^\* OK \[UIDVALIDITY \d+\].*$")
UIDVALIDITY_ANY = re.compile(rb"UIDVALIDITY \d+ ?")


@pytest.mark.parametrize("status_says_it", [True, False])
def test_a_server_that_leaves_out_uidvalidity_is_still_synced(mailbox, quirky, status_says_it):  # noqa: F811
    """RFC 3501 makes UIDVALIDITY part of every SELECT answer; some servers leave it out (Xeams on
    EXAMINE). The sync failed with an internal error ("the operators have been told"). It is
    asked with STATUS, else taken as 0; mail is imported once, and deletions still show."""

    def rewrite(line: bytes) -> bytes:
        if UIDVALIDITY_OK.match(line):
            return b"* OK Ready"
        if not status_says_it and line.startswith(b"* STATUS"):
            return UIDVALIDITY_ANY.sub(b"", line)
        return line

    mailbox.server.deliver(mailbox.user, [make_message("First"), make_message("Second")])
    proxy = quirky(rewrite)
    integration = mailbox.integration(host="127.0.0.1", port=proxy.port)

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert sorted(item.title for item in by_message_id(integration).values()) == ["First", "Second"]
    assert sync(integration).created == 0
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        client.delete_messages(client.search(["SUBJECT", "First"]))
        client.expunge()
    assert sync(integration).deleted == 1
    assert sorted(item.title for item in by_message_id(integration).values()) == ["Second"]


class WithoutPartialBodies:
    """Rewrites a server's answers as one that cannot answer a partial FETCH: each BODY[]<0>
    literal is left out of its FETCH response (the UID, FLAGS and size still come)."""

    LITERAL = re.compile(rb"^(?P<head>.*?) ?BODY\[\]<0> \{(?P<size>\d+)\}$")

    def __init__(self):
        self.skip, self.head, self.after = 0, None, False

    def __call__(self, line: bytes) -> bytes | None:
        if self.after:  # the line right after the literal: the rest of the FETCH response
            self.after = False
            return self.head + line
        if self.skip:
            if len(line) + 2 <= self.skip:
                self.skip -= len(line) + 2
                self.after = self.skip == 0
                return None
            rest, self.skip = line[self.skip :], 0
            return self.head + rest
        found = self.LITERAL.match(line)
        if found is None:
            return line
        self.skip, self.head = int(found["size"]), found["head"]
        return None


def test_messages_a_server_answers_without_their_text_are_asked_for_again(mailbox, quirky):  # noqa: F811
    """Some servers answer a partial FETCH (BODY.PEEK[]<0.N>) with the message's other items but
    without its text. Each such message was reported unreadable and never read again: now it is
    asked for whole, and read."""
    big = (
        "From: big@example.com\r\nSubject: Big\r\nMessage-ID: <big@x>\r\nDate: Mon, 01 Apr 2024 10:00:00 +0000\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        "Content-Type: text/plain\r\n\r\nSee attached.\r\n--B\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n" * 6000
        + "--B--\r\n"
    ).encode()
    mailbox.server.deliver(mailbox.user, [make_message("First"), make_message("Second"), big])
    proxy = quirky(WithoutPartialBodies())
    integration = mailbox.integration(host="127.0.0.1", port=proxy.port, max_body_kb=16)

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    found = by_message_id(integration)
    assert sorted(item.title for item in found.values()) == ["Big", "First", "Second"]
    assert found["<big@x>"].data["truncated"] is True  # larger than the cap: its header, not all of it
    assert [a["filename"] for a in found["<big@x>"].data["attachments"]] == ["data.bin"]
    assert all(item.data["text"] == "Hello there.\n" for item in found.values() if item.title != "Big")


FETCH_DONE = re.compile(rb"^\w+ OK Fetch completed")


def test_an_unsolicited_fetch_without_a_uid_never_lends_its_flags_to_another_message(mailbox, quirky):  # noqa: F811
    """Servers tell of flag changes made elsewhere with unsolicited FETCH responses, and Exchange
    sends them without the UID ("* 2 FETCH (FLAGS (\\Flagged))": message number 2). imapclient
    keys such a response by its message number and merged it into the message whose UID has that
    number: after an expunge those are different messages, and one message was stored with the
    other's flags (unnoticed later: its own MODSEQ had not moved)."""
    mailbox.server.deliver(mailbox.user, [make_message(f"Mail {n}") for n in range(1, 5)])
    with mailbox.server.client(mailbox.user) as client:
        client.select_folder("INBOX")
        client.delete_messages(client.search(["SUBJECT", "Mail 1"]))
        client.expunge()  # UIDs 2, 3, 4 are now messages number 1, 2, 3
        client.add_flags([3], [b"\\Flagged"])  # flagged in another mail client...
    unsolicited = b"* 2 FETCH (FLAGS (\\Flagged))\r\n"  # ...which the server tells, by number 2: UID 3
    proxy = quirky(lambda line: unsolicited + line if FETCH_DONE.match(line) else line)
    integration = mailbox.integration(host="127.0.0.1", port=proxy.port)

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    found = {item.data["uid"]: item.data["flags"] for item in by_message_id(integration).values()}
    assert found == {2: [], 3: ["\\Flagged"], 4: []}  # UID 2 was never flagged


FETCH_UID = re.compile(rb"^(\* \d+ FETCH \()UID \d+ ")


def test_a_server_that_leaves_the_uid_out_of_its_fetch_answers_is_still_read(mailbox, quirky):  # noqa: F811
    """RFC 3501 wants the UID in every answer to a UID FETCH; a server that leaves it out (in a
    mailbox where message numbers and UIDs agree) was read by message number, as imapclient reads
    it. Dropping answers without a UID (they can be unsolicited flag updates) must not drop
    those: only answers holding nothing but flags are set aside."""
    mailbox.server.deliver(mailbox.user, [make_message("First"), make_message("Second")])
    proxy = quirky(lambda line: FETCH_UID.sub(rb"\1", line))
    integration = mailbox.integration(host="127.0.0.1", port=proxy.port)

    job = sync(integration)

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert sorted(item.title for item in by_message_id(integration).values()) == ["First", "Second"]
