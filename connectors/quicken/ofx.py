"""OFX bank and card statements (also Quicken's .qfx and Microsoft Money's files), read as a
stream of tags, for both OFX 1.x (SGML: a "OFXHEADER:100" header and leaf elements without end
tags, "<TRNAMT>-12.50") and OFX 2.x (XML). Only statement transactions are read (STMTTRN in
STMTRS / CCSTMTRS); nothing is ever sent to a bank. https://www.ofx.net/downloads.html (OFX 2.2
specification, chapters 11 and 13).

A transaction is keyed by its account and FITID, the bank's own id that the specification says
stays the same across downloads; banks that leave it out get a content hash.
ofxtools parses a whole file into memory and refuses it at the first invalid element, so this
small tokenizer is used instead: one bad transaction is reported and the others kept.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import io
import re

from connectors import archives
from connectors.errors import ItemError
from connectors.quicken import money

TAG = re.compile(r"<(/?)([A-Za-z0-9_.]+)[^>]*>")
ACCOUNT_AGGREGATES = {"BANKACCTFROM", "CCACCTFROM", "INVACCTFROM"}
STATEMENTS = {"STMTRS", "CCSTMTRS"}
TYPES = {"CREDIT", "DEBIT", "INT", "DIV", "FEE", "SRVCHG", "DEP", "ATM", "POS", "XFER", "CHECK", "PAYMENT",
         "CASH", "DIRECTDEP", "DIRECTDEBIT", "REPEATPMT", "HOLD", "OTHER"}  # fmt: skip


def encoding_of(head: bytes) -> str:
    text = head.decode("latin-1")
    if re.search(r"CHARSET:\s*1252", text) or re.search(r"ENCODING:\s*USASCII", text):
        return "cp1252"
    declared = re.search(r"encoding=[\"']([A-Za-z0-9_-]+)", text)
    if declared:
        with contextlib.suppress(LookupError):
            return codecs.lookup(declared.group(1)).name
    return archives.sniff_encoding(head)


def tokens(text_stream, chunk_size: int = 65536):
    """(closing, TAG, text after the tag, line) for every tag of the stream."""
    buffer, line = "", 1
    while True:
        chunk = text_stream.read(chunk_size)
        buffer += chunk
        position = 0
        while True:
            match = TAG.search(buffer, position)
            if match is None:
                break
            following = buffer.find("<", match.end())
            if following < 0 and chunk:
                break  # the text after this tag may continue in the next chunk
            end = following if following >= 0 else len(buffer)
            line += buffer.count("\n", position, match.start())
            yield bool(match.group(1)), match.group(2).upper(), buffer[match.end() : end].strip(), line
            line += buffer.count("\n", match.start(), end)
            position = end
        line += buffer.count("\n", position, len(buffer)) if not chunk else 0
        buffer = buffer[position:]
        if not chunk:
            return


def entries(stream, label: str):
    """(index, line, raw transaction | ItemError) of each statement transaction."""
    buffered = io.BufferedReader(stream, 65536)
    text = archives.text_stream(buffered, encoding_of(buffered.peek(4096)[:4096]))
    stack: list[str] = []
    account: dict = {}
    currency = ""
    current: dict | None = None
    start_line = 0
    index = 0
    occurrences = archives.Occurrences()
    for closing, tag, value, line in tokens(text):
        if closing:
            if tag in stack:
                while stack and stack.pop() != tag:
                    pass
            if tag == "STMTTRN" and current is not None:
                yield index, start_line, _finish(current, account, currency, label, start_line, occurrences)
                index += 1
                current = None
            continue
        if value == "" and tag not in ("NAME", "MEMO"):  # an aggregate opens (or an empty element)
            if tag == "STMTTRN":
                current, start_line = {}, line
            elif tag in ACCOUNT_AGGREGATES:
                account = {"kind": tag}
            elif tag in STATEMENTS:
                currency, account = "", {}
            stack.append(tag)
            continue
        value = _unescape(value)
        if current is not None and "STMTTRN" in stack:
            if "CURRENCY" in stack or "ORIGCURRENCY" in stack:
                current.setdefault("orig_" + tag.lower(), value)
            else:
                current.setdefault(tag, value)
        elif ACCOUNT_AGGREGATES.intersection(stack):
            account[tag] = value
        elif tag == "CURDEF":
            currency = value


def _unescape(value: str) -> str:
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&nbsp;", " ")


def _finish(fields: dict, account: dict, currency: str, label: str, line: int, occurrences) -> dict | ItemError:
    try:
        if "TRNAMT" not in fields:
            raise ValueError("it has no amount (TRNAMT)")
        if "DTPOSTED" not in fields:
            raise ValueError("it has no date (DTPOSTED)")
        date = _date(fields["DTPOSTED"])
        value = money.money(money.amount(fields["TRNAMT"]))
    except ValueError as exc:
        return ItemError(f"{label} line {line}: transaction skipped, {exc}.", external_id=f"{label}#{line}")
    account_id = account.get("ACCTID", "")
    account_key = "/".join(filter(None, (account.get("BANKID", ""), account_id))) or "unknown"
    fitid = fields.get("FITID", "")
    if fitid:
        external_id = f"ofx:{account_key}:{fitid}"
    else:
        key = "|".join((account_key, date, value, fields.get("NAME", ""), fields.get("MEMO", "")))
        external_id = archives.content_id("ofx", key, occurrences.next(key))
    raw = {
        "id": external_id,
        "amount": value,
        "currency": fields.get("orig_cursym") or currency,
        "date": date,
        "account": _account_name(account),
        "account_id": account_id,
        "payee": fields.get("NAME") or fields.get("PAYEE", ""),
        "memo": fields.get("MEMO", ""),
        "transaction_id": fitid,
        "type": fields.get("TRNTYPE", ""),
        "status": "posted",
    }
    for optional, name in (("CHECKNUM", "number"), ("SIC", "sic"), ("REFNUM", "reference"), ("DTUSER", "user_date")):
        if fields.get(optional):
            raw[name] = fields[optional]
    return raw


def _account_name(account: dict) -> str:
    if account.get("ACCTTYPE"):
        return account["ACCTTYPE"].replace("CREDITLINE", "CREDIT LINE").capitalize()
    return {"CCACCTFROM": "Credit card", "INVACCTFROM": "Investment"}.get(account.get("kind", ""), "")


def _date(text: str) -> str:
    """The day of "20240301120000.000[-5:EST]" (the bank's local day, as its statement shows)."""
    match = re.match(r"^(\d{4})(\d{2})(\d{2})", text or "")
    try:
        if not match:
            raise ValueError
        return datetime.date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        raise ValueError(f"the date {text[:30]!r} is not an OFX date (YYYYMMDD...)") from None
