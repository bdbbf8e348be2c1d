"""Mint: the transactions.csv that Mint exported (Transactions > Export all transactions), read-only.

Columns: Date (M/DD/YYYY), Description, Original Description, Amount (always positive),
Transaction Type ("debit" for money out, "credit" for money in), Category, Account Name, Labels,
Notes. Mint closed in 2024, so the export is all there is; the columns are matched loosely
(archives.Columns) as tools that re-save the file rename them. Rows have no ids: a row is keyed by
its content and its rank among identical rows (two equal coffees on one day stay two).
"""

from __future__ import annotations

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.quicken import money
from connectors.registry import registry

COLUMNS = {
    "date": ["Date", "Transaction Date", "Posted Date"],
    "description": ["Description", "Payee", "Merchant"],
    "original_description": ["Original Description", "Original Statement"],
    "amount": ["Amount", "Transaction Amount"],
    "type": ["Transaction Type", "Type", "Debit/Credit"],
    "category": ["Category"],
    "account": ["Account Name", "Account"],
    "labels": ["Labels", "Tags"],
    "notes": ["Notes", "Memo"],
}


@registry.register("mint")
class Mint(archives.ArchiveConnector):
    EXPORT = "mint"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        return bool(member.size) and archives.identify_member(member, member.head()) == "mint"

    def parse(self, member: archives.Member, stream):
        label = member.label
        occurrences = archives.Occurrences()
        index = -1
        # A first pass over the dates: a file re-saved in a day-first locale is day-first throughout.
        dates = []  # damage part-way ends this pass where it is (reading_ahead): the dates before it count
        with archives.reading_ahead(member) as first:
            for _line, row in archives.csv_rows(first, label, COLUMNS, required=("date",), needed=("date",)):
                if isinstance(row, dict):
                    dates.append(row["date"])
        order = money.file_order(dates)
        rows = archives.csv_rows(
            stream, label, COLUMNS, required=("date", "amount", "type"), needed=("date", "amount", "type")
        )
        for line, row in rows:
            index += 1
            if isinstance(row, ItemError):
                yield index, row
                continue
            try:
                raw = self._row(row, order)
            except ValueError as exc:
                yield index, ItemError(f"{label} line {line}: row skipped, {exc}.", external_id=f"{label}#{line}")
                continue
            key = "|".join((raw["date"], raw["amount"], raw["original_description"], raw["account"]))
            raw["id"] = archives.content_id("mint", key, occurrences.next(key))
            yield index, raw

    @staticmethod
    def _row(row: dict, order: str | None = None) -> dict:
        kind = row["type"].strip().lower()
        if kind not in ("debit", "credit"):
            raise ValueError(f"the transaction type {row['type'][:20]!r} is neither debit nor credit")
        value = abs(money.amount(row["amount"]))
        labels = [part.strip() for part in row.get("labels", "").split(",") if part.strip()]
        raw = {
            "date": money.spreadsheet_date(row["date"], order).isoformat(),
            "amount": money.money(-value if kind == "debit" else value),
            "currency": "",  # Mint served US and Canadian accounts and wrote no currency
            "payee": row.get("description", ""),
            "original_description": row.get("original_description", ""),
            "category": row.get("category", ""),
            "account": row.get("account", ""),
            "memo": row.get("notes", ""),
            "labels": labels,
            "status": "posted",
        }
        raw.update({k: v for k, v in row.items() if k not in COLUMNS})
        return raw

    def transform(self, raw) -> Record:
        return money.transaction_record(raw)
