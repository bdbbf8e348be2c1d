"""Quicken and bank files: QIF (qif.py) and OFX 1.x/2.x, also named .qfx (ofx.py), read-only.

Transactions are keyed by account + FITID for OFX (the bank's own id), else by a hash of the
transaction with its rank among identical ones in the file, so importing the same file again, or
a newer statement that overlaps it, adds nothing twice.
"""

from __future__ import annotations

from connectors import archives
from connectors.base import Record
from connectors.quicken import money, ofx, qif
from connectors.registry import registry


@registry.register("quicken")
class Quicken(archives.ArchiveConnector):
    EXPORT = "quicken"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        return bool(member.size) and archives.identify_member(member, member.head()) in ("qif", "ofx")

    def parse(self, member: archives.Member, stream):
        if archives.identify_member(member, member.head()) == "ofx":
            for index, _line, raw in ofx.entries(stream, member.label):
                yield index, raw
            return
        fallback = self.config.get("date_order") or "mdy"
        encoding = qif.encoding_of(member.head(64 * 1024))
        order, decided = fallback, False
        with archives.reading_ahead(member) as first:
            order, decided = qif.date_order(first, fallback, encoding)
        if not decided:
            names = {"mdy": "month/day/year", "dmy": "day/month/year", "ymd": "year/month/day"}
            yield (
                0,
                archives.Notice(
                    f"{member.label}: no date in the file shows whether the day or the month comes first; "
                    f"they were read as {names.get(order, order)} (the integration's date order setting)."
                ),
            )
        for index, _line, raw in qif.entries(stream, member.label, order, encoding):
            if isinstance(raw, dict):
                raw["date_order"] = order
            yield index, raw

    def transform(self, raw) -> Record:
        return money.transaction_record(raw)
