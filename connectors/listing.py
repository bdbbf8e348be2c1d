"""What a full listing has shown so far, carried in the sync cursor while it pages.

A full listing (a calendar window after an expired sync token, a mailbox after an expired history
id) may tombstone what it did not show, but only if it knows everything it showed: a round resumed
from its checkpoint (after a 5xx, a rate limit, a killed worker) learns its earlier pages from here."""

from __future__ import annotations

import hashlib


class Listed:
    """The ids a listing has shown so far, kept in the cursor while it pages, so a round resumed
    from its checkpoint (after a 5xx, a rate limit, a killed worker) can still tombstone what it
    never showed. Each id is kept as 12 hex digits of its SHA-256 (a busy year of events stays a few
    tens of kilobytes); two ids sharing a digest can only keep a deleted event, never delete one."""

    def __init__(self, digests=()):
        self._digests = {str(d) for d in digests or ()}

    @staticmethod
    def _digest(external_id: str) -> str:
        return hashlib.sha256(external_id.encode("utf-8")).hexdigest()[:12]

    def add(self, external_id: str) -> None:
        self._digests.add(self._digest(external_id))

    def __contains__(self, external_id: str) -> bool:
        return self._digest(external_id) in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def missing(self, known) -> list[str]:
        """What of `known` this listing did not show, sorted."""
        return sorted(i for i in known if i not in self)

    def for_cursor(self) -> list[str]:
        return sorted(self._digests)
