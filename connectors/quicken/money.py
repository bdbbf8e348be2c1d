"""What the bank-file importers share: amounts as decimal strings, dates whose order (day or month
first) is decided once per file, and the transaction record of the record-kinds contract."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

from connectors.base import Record

ORDERS = ("mdy", "dmy", "ymd")


def amount(text: str) -> Decimal:
    """ "-1,234.56", "1.234,56", "(12.00)", "$12.00" as a Decimal; ValueError when it is not one."""
    cleaned = re.sub(r"[^\d,.\-+()]", "", text or "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if "," in cleaned and "." in cleaned:  # the last separator is the decimal one
        cleaned = cleaned.replace(",", "") if cleaned.rfind(".") > cleaned.rfind(",") else cleaned.replace(".", "")
    if "," in cleaned:
        whole, _, fraction = cleaned.rpartition(",")
        cleaned = f"{whole.replace(',', '')}.{fraction}" if len(fraction) != 3 else cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"the amount {text.strip()[:30]!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"the amount {text.strip()[:30]!r} is not a number")
    return -value if negative else value


def money(value: Decimal) -> str:
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value.normalize())


DATE_PARTS = re.compile(r"^\s*(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*(?:[/.\-]|')\s*(\d{1,4})\s*$")


def date_parts(text: str) -> tuple[int, int, int, bool] | None:
    """(first, second, third, apostrophe) of "1/15/2020", "15.01.20", "1/15'20", "2020-01-15"."""
    match = DATE_PARTS.match(text or "")
    if not match:
        return None
    first, second, third = (int(g) for g in match.groups())
    return first, second, third, "'" in text


def unambiguous_order(text: str) -> str | None:
    """The order a date proves: "25/12/2020" is day-first, "12/25/2020" month-first."""
    parts = date_parts(text)
    if parts is None:
        return None
    first, second, _third, _ = parts
    if first > 31:
        return "ymd"
    if first > 12 >= second:
        return "dmy"
    if second > 12 >= first:
        return "mdy"
    return None


def spreadsheet_order(text: str) -> str:
    """The order of a date in a CSV that US services wrote month-first: day-first when its parts are
    separated by dots, as only day-first locales write them (a European spreadsheet's re-save)."""
    return "dmy" if "." in (text or "") else "mdy"


def file_order(dates) -> str | None:
    """The order a whole spreadsheet's dates prove: "dmy" when some date can only be day-first
    ("25/12/2020") and none only month-first, as a re-save in a day-first locale (a UK Excel)
    writes every one of them; None (each date as spreadsheet_order reads it) otherwise."""
    proved = set()
    for text in dates:
        order = unambiguous_order(text)
        if order in ("dmy", "mdy"):
            proved.add(order)
            if len(proved) == 2:
                return None
    return "dmy" if proved == {"dmy"} else None


def spreadsheet_date(text: str, order: str | None = None) -> datetime.date:
    """A date of a CSV US services write month-first: in the file's proven order when there is one
    (file_order), else as spreadsheet_order reads it alone."""
    return parse_date(text, order or spreadsheet_order(text))


def parse_date(text: str, order: str) -> datetime.date:
    parts = date_parts(text)
    if parts is None:
        raise ValueError(f"the date {text.strip()[:30]!r} is in an unknown format")
    first, second, third, apostrophe = parts
    if first > 31 or (order == "ymd" and third <= 31):
        year, month, day = first, second, third
    elif order == "dmy":
        day, month, year = first, second, third
    else:
        month, day, year = first, second, third
    if year < 100:  # Quicken writes 1/15'05 for 2005 and 1/15/99 for 1999
        year += 2000 if apostrophe or year < 70 else 1900
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError(f"the date {text.strip()[:30]!r} does not exist") from None


def transaction_record(raw: dict) -> Record:
    date = datetime.date.fromisoformat(raw["date"])
    data = {
        "amount": raw["amount"],
        "currency": raw.get("currency") or "",
        "date": raw["date"],
        "account": raw.get("account") or "",
        "account_id": raw.get("account_id") or "",
        "payee": raw.get("payee") or "",
        "category": raw.get("category") or "",
        "memo": raw.get("memo") or "",
        "status": raw.get("status") or "posted",
        "transaction_id": raw.get("transaction_id") or "",
    }
    data.update({k: v for k, v in raw.items() if k not in data and k not in ("id",) and v not in (None, "")})
    currency = f" {data['currency']}" if data["currency"] else ""
    return Record(
        external_id=raw["id"],
        kind="transaction",
        title=f"{data['payee'] or data['memo'] or 'Transaction'}: {data['amount']}{currency}",
        occurred_at=datetime.datetime.combine(date, datetime.time(), tzinfo=datetime.UTC),
        data=data,
    )
