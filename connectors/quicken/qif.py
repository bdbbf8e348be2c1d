"""Quicken Interchange Format (QIF), as Quicken, GnuCash, Moneydance and many banks export it.

A file is a list of sections: "!Type:Bank" (or CCard, Cash, Oth A, Oth L, Invst) followed by
transactions of one-letter lines (D date, T or U amount, P payee, M memo, L category, N number,
C cleared, A address, S/E/$ split lines) each ended by "^"; "!Account" blocks (N name, T type)
name the account the following sections belong to; category, class and memorized lists are not
transactions and are skipped. https://en.wikipedia.org/wiki/Quicken_Interchange_Format

QIF dates carry no order: 03/04/2020 is March 4 in the US and 3 April elsewhere. The order is
decided once per file from its first unambiguous date (a day above 12), else from the
integration's "date order" setting (and the user is told it was assumed). quiffen (4.x) reads a
whole file at once, takes the date order as an argument and stops at the first bad transaction;
this reader streams, decides the order itself and reports a bad transaction with its line.
"""

from __future__ import annotations

from connectors import archives
from connectors.errors import ItemError
from connectors.quicken import money

TRANSACTION_TYPES = {"bank", "ccard", "cash", "oth a", "oth l", "invst"}
LIST_TYPES = {"cat", "class", "memorized", "prices", "security"}


def encoding_of(head: bytes) -> str:
    """UTF-16 when the file says so (a byte order mark), UTF-8 when the start of the file is valid
    UTF-8, else Windows-1252 (Quicken's own)."""
    if archives.sniff_encoding(head).startswith("utf-16"):
        return archives.sniff_encoding(head)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8-sig"


def lines(stream, encoding: str = "utf-8-sig"):
    for number, line in enumerate(archives.text_stream(stream, encoding=encoding), start=1):
        yield number, line.rstrip("\r\n")


def date_order(stream, fallback: str, encoding: str = "utf-8-sig") -> tuple[str, bool]:
    """(order, decided from the file) from the first unambiguous D line."""
    for _number, line in lines(stream, encoding):
        if line.startswith("D"):
            order = money.unambiguous_order(line[1:])
            if order in ("dmy", "mdy"):
                return order, True
    return fallback, False


def entries(stream, label: str, order: str, encoding: str = "utf-8-sig"):
    """(index, first line, raw transaction | ItemError) of each transaction in the file."""
    section, account, account_type = "", "", ""
    fields: list[tuple[str, str, int]] = []
    in_account = False
    index = 0
    occurrences = archives.Occurrences()
    for number, line in lines(stream, encoding):
        if not line.strip():
            continue
        if line.startswith("!"):
            header = line[1:].strip().lower()
            if header == "account":
                in_account, fields = True, []
            elif header.startswith("type:"):
                section, in_account, fields = header[5:].strip(), False, []
            continue  # !Option:AutoSwitch, !Clear:AutoSwitch
        if in_account:
            if line[0] == "N":
                account = line[1:].strip()
            elif line[0] == "T":
                account_type = line[1:].strip()
            elif line[0] == "^":
                in_account = False
            continue
        if line[0] != "^":
            fields.append((line[0], line[1:], number))
            continue
        block, fields = fields, []
        if section in LIST_TYPES or not block:
            continue
        first_line = block[0][2]
        try:
            raw = _transaction(block, order)
        except ValueError as exc:
            yield (
                index,
                first_line,
                ItemError(
                    f"{label} line {first_line}: transaction skipped, {exc}.", external_id=f"{label}#{first_line}"
                ),
            )
            index += 1
            continue
        raw.update(account=account, account_type=account_type or section, section=section)
        key = "|".join(str(raw.get(k, "")) for k in ("account", "date", "amount", "payee", "memo", "number"))
        raw["id"] = archives.content_id("qif", key, occurrences.next(key))
        yield index, first_line, raw
        index += 1
    if fields and section not in LIST_TYPES:  # a last transaction without its "^"
        first_line = fields[0][2]
        yield (
            index,
            first_line,
            ItemError(
                f"{label} line {first_line}: the last transaction is cut short (no closing ^); it was skipped.",
                external_id=f"{label}#{first_line}",
            ),
        )


def _transaction(block, order: str) -> dict:
    raw: dict = {"splits": []}
    split: dict | None = None
    address = []
    for code, value, _number in block:
        value = value.strip()
        if code == "D":
            raw["date"] = money.parse_date(value, order).isoformat()
        elif code in "TU" and "amount" not in raw:
            raw["amount"] = money.money(money.amount(value))
        elif code == "P":
            raw["payee"] = value
        elif code == "M":
            raw["memo"] = value
        elif code == "L":
            raw["category"] = value
        elif code == "N":
            raw["number"] = value
        elif code == "C":
            raw["cleared"] = value
        elif code == "A":
            address.append(value)
        elif code == "S":
            split = {"category": value}
            raw["splits"].append(split)
        elif code == "E" and split is not None:
            split["memo"] = value
        elif code == "$" and split is not None:
            split["amount"] = money.money(money.amount(value))
    if "date" not in raw:
        raise ValueError("it has no date (D line)")
    if "amount" not in raw:
        raise ValueError("it has no amount (T line)")
    if address:
        raw["address"] = address
    if not raw["splits"]:
        del raw["splits"]
    raw["status"] = "posted"
    return raw
