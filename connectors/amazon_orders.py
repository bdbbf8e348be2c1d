"""Amazon order history from "Request your data" (amazon.com/hz/privacy-central/data-requests):
the "Your Orders" zip holding Retail.OrderHistory.1/Retail.OrderHistory.1.csv (one file per
marketplace), or that CSV on its own. Amazon's order reports closed in 2023; this export is what
remains.

The CSV has one row per item and shipment, and its columns have been renamed over the years
("Order Date" with ISO times, formerly M/D/YYYY; "Total Owed", earlier "Item Total"), so columns
are matched through aliases. Money: each row's Total Owed is that item line's share (price, tax,
shipping, discounts); "Shipment Item Subtotal" repeats the shipment's amount on every row of the
shipment, so it is never summed. An order is one record (kind order) keyed by Amazon's order id,
so a newer export updates its status instead of adding it again. Addresses and gift messages are
not imported.
"""

from __future__ import annotations

import csv
import datetime
import re
from decimal import Decimal

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.quicken import money
from connectors.registry import registry

COLUMNS = {
    "order_id": ["Order ID", "Order Number", "OrderId"],
    "date": ["Order Date", "Order Date (UTC)", "Purchase Date"],
    "currency": ["Currency", "Currency Code"],
    "unit_price": ["Unit Price", "Purchase Price Per Unit", "Item Price"],
    "unit_price_tax": ["Unit Price Tax", "Item Tax"],
    "shipping": ["Shipping Charge", "Shipping Charges"],
    "discounts": ["Total Discounts", "Discounts"],
    "total": ["Total Owed", "Item Total", "Total Charged", "Total Amount"],
    "shipment_subtotal": ["Shipment Item Subtotal"],
    "shipment_subtotal_tax": ["Shipment Item Subtotal Tax"],
    "asin": ["ASIN", "ASIN/ISBN", "ASIN ISBN"],
    "quantity": ["Quantity", "Original Quantity", "Qty"],
    "status": ["Order Status"],
    "shipment_status": ["Shipment Status"],
    "ship_date": ["Ship Date", "Shipment Date"],
    "title": ["Product Name", "Title", "Item Name"],
    "website": ["Website", "Marketplace"],
    "payment": ["Payment Instrument Type", "Payment Method"],
    "condition": ["Product Condition", "Condition"],
    "carrier": ["Carrier Name & Tracking Number", "Carrier Name"],
}

MISSING = {"", "not available", "not applicable", "n/a", "-"}


def _money(text: str | None) -> Decimal | None:
    text = (text or "").strip().strip("'\"")
    if text.lower() in MISSING:
        return None
    return money.amount(text)


CLOCK = re.compile(r"^(?P<date>\S+)\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[ap]m)?$", re.I)


def _date_part(text: str) -> str:
    clock = CLOCK.match((text or "").strip())
    return clock.group("date") if clock else (text or "").strip()


def _date(text: str, order: str | None = None) -> datetime.datetime:
    """ISO times as Amazon writes them, or the M/D/YYYY dates of older reports, with the time a
    spreadsheet adds when it re-saves them ("1/5/2023 12:00", "1/5/2023 9:05:30 PM", "05.01.2023 12:00")."""
    text = (text or "").strip()
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        clock = CLOCK.match(text)
        try:
            date = clock.group("date") if clock else text
            day = money.spreadsheet_date(date, order)
            at = datetime.time()
            if clock:
                hour = int(clock.group("h")) % 12 if clock.group("ampm") else int(clock.group("h"))
                hour += 12 if (clock.group("ampm") or "").lower() == "pm" else 0
                at = datetime.time(hour, int(clock.group("m")), int(clock.group("s") or 0))
            value = datetime.datetime.combine(day, at)
        except ValueError:
            raise ValueError(f"the order date {text[:30]!r} is in an unknown format") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _quantity(text: str | None) -> int:
    text = (text or "").strip()
    if text.lower() in MISSING:
        return 1
    if not re.fullmatch(r"\d{1,6}(\.0*)?", text):
        raise ValueError(f"the quantity {text[:20]!r} is not a whole number")
    return int(text.split(".")[0])


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _has_columns(head: bytes, wanted) -> bool:
    """Whether the CSV header at the start of `head` has a column for each of `wanted`."""
    first = archives.decode_head(head).splitlines()[0] if head.strip() else ""
    header = {_normal(h) for h in next(csv.reader([first], delimiter=archives.delimiter_of(first)), [])}
    return all(any(_normal(alias) in header for alias in [key, *COLUMNS[key]]) for key in wanted)


def _rows(stream, label: str):
    """(row index, line, row | ItemError) of an order history CSV."""
    rows = archives.csv_rows(stream, label, COLUMNS, required=("order_id", "date"), needed=("order_id", "date"))
    for index, (line, row) in enumerate(rows):
        if not isinstance(row, ItemError) and not row.get("order_id"):
            row = ItemError(f"{label} line {line}: the row has no order id.", external_id=f"{label}#{line}")
        yield index, line, row


@registry.register("amazon_orders")
class AmazonOrders(archives.ArchiveConnector):
    EXPORT = "amazon-orders"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        if not member.size or not member.basename.lower().endswith(".csv"):
            return False
        if re.match(r"retail\.orderhistory\.\d+\.csv$", member.basename.lower()):
            return True
        head = member.head()
        if archives.identify_member(member, head) != "amazon-orders":
            return False
        # Returns, refunds and digital-item files of the same bundle have order ids and ASINs too:
        # only a file with the columns of an order history is one.
        return _has_columns(head, ("order_id", "date"))

    def parse(self, member: archives.Member, stream):
        # Rows of one order are usually adjacent, but nothing promises it: a first pass finds each
        # order's last row, where the order is complete and yielded; only orders in flight are held.
        # A file damaged part-way ends this pass where it ends the second, which imports the orders
        # before the damage and names it.
        last, dates = {}, []
        with archives.reading_ahead(member) as first:
            for index, _line, row in _rows(first, member.label):
                if isinstance(row, dict):
                    last[row["order_id"]] = index
                    dates.append(_date_part(row["date"]))
        # A file re-saved in a day-first locale is day-first throughout.
        date_order = money.file_order(dates)
        pending: dict[str, dict] = {}
        for index, line, row in _rows(stream, member.label):
            if isinstance(row, ItemError):
                yield index, row
                continue
            order = pending.setdefault(row["order_id"], {"id": row["order_id"], "rows": [], "problems": []})
            try:
                order["rows"].append(self._line(row, date_order))
            except ValueError as exc:
                problem = f"{member.label} line {line}: an item of order {row['order_id']} was skipped, {exc}."
                order["problems"].append(problem)
                yield index, ItemError(problem, external_id=f"{member.label}#{line}")
            if last.get(row["order_id"]) == index:
                done = pending.pop(row["order_id"])
                yield index, self._order(done) if done["rows"] else None
            else:
                yield index, None

    @staticmethod
    def _line(row: dict, date_order: str | None = None) -> dict:
        quantity = _quantity(row.get("quantity"))
        unit_price = _money(row.get("unit_price"))
        total = _money(row.get("total"))
        if total is None and unit_price is not None:
            total = unit_price * quantity + (_money(row.get("unit_price_tax")) or 0) * quantity
        return {
            "date": _date(row["date"], date_order).isoformat(),
            "title": row.get("title", ""),
            "quantity": quantity,
            "price": money.money(unit_price) if unit_price is not None else None,
            "total": total,
            "asin": row.get("asin", ""),
            "currency": row.get("currency", ""),
            "status": row.get("status", ""),
            "shipment_status": row.get("shipment_status", ""),
            "ship_date": row.get("ship_date", "") if row.get("ship_date", "").lower() not in MISSING else "",
            "website": row.get("website", ""),
            "payment": row.get("payment", ""),
            "condition": row.get("condition", ""),
            "carrier": row.get("carrier", "") if row.get("carrier", "").lower() not in MISSING else "",
        }

    @staticmethod
    def _order(order: dict) -> dict:
        rows = order["rows"]
        totals = [r["total"] for r in rows if r["total"] is not None]
        return {
            "id": order["id"],
            "date": min(r["date"] for r in rows),
            "total": money.money(sum(totals, Decimal(0))) if totals else None,
            "currency": next((r["currency"] for r in rows if r["currency"]), ""),
            "items": [
                {
                    "title": r["title"],
                    "quantity": r["quantity"],
                    "price": r["price"],
                    "asin": r["asin"],
                    "condition": r["condition"],
                }
                for r in rows
            ],
            "status": next((r["status"] for r in rows if r["status"]), ""),
            "shipments": sorted({(r["ship_date"], r["shipment_status"], r["carrier"]) for r in rows if r["ship_date"]}),
            "website": rows[0]["website"],
            "payment": next((r["payment"] for r in rows if r["payment"]), ""),
            "incomplete": bool(order["problems"]),
        }

    def transform(self, raw) -> Record:
        count = sum(item["quantity"] for item in raw["items"])
        first = raw["items"][0]["title"] or "item"
        title = first if count <= 1 else f"{first} and {count - 1} more"
        data = {
            "order_id": raw["id"],
            "date": raw["date"],
            "total": raw["total"],
            "currency": raw["currency"],
            "items": raw["items"],
            "status": raw["status"],
            "shipments": [{"ship_date": d, "status": s, "carrier": c} for d, s, c in raw["shipments"]],
            "website": raw["website"],
            "payment": raw["payment"],
        }
        if raw["incomplete"]:
            data["incomplete"] = True
        site = raw["website"] if "." in (raw["website"] or "") else "Amazon.com"
        return Record(
            external_id=f"amazon:{raw['id']}",
            kind="order",
            title=title,
            summary=f"Order {raw['id']}" + (f", {raw['total']} {raw['currency']}".rstrip() if raw["total"] else ""),
            occurred_at=datetime.datetime.fromisoformat(raw["date"]),
            data=data,
            source_url=f"https://www.{site.lower()}/gp/your-account/order-details?orderID={raw['id']}",
        )
