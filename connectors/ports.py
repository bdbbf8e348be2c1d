"""What a connector needs from the hub, as ports the hub implements (integrations.sync.ports).

`connectors` is the ground floor: it imports the standard library, third-party packages and
itself, never `integrations` or `workflows` (tests/connectors/test_layers.py keeps it so). The
database, the URL map and the job live above; a connector reaches them only through these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class StoreUnavailable(Exception):
    """The shared rate-limit store (Redis, the database) cannot be reached right now: an outage
    to wait out, never a reason to fail a sync."""


class RateLimitStore(Protocol):
    """Sliding windows shared by every worker process on every machine."""

    def try_acquire(self, key: str, limit: int, seconds: float, pending: float) -> tuple[float, str]:
        """Take one slot: (0, token) when taken, else (seconds to wait, ""). The slot counts as
        in flight (`pending` seconds at most) until settle() dates it."""

    def settle(self, key: str, token: str) -> None:
        """Date a taken slot to now: the provider has counted the request by the time its answer
        arrives, so the window ends `seconds` after that, with no guessed margin."""


class MetricsSink(Protocol):
    def add(self, integration_id: int, values: dict, last_success) -> None:
        """Add request counts (requests, errors, rate_limited, total_ms) for one integration."""


class KnownRecords(Protocol):
    """The live records already stored for this integration."""

    def versions(self, external_ids: Iterable[str] | None = None) -> dict[str, str]: ...

    def ids(self, prefix: str = "", *, occurred_within: tuple | None = None) -> set[str]: ...

    def data(self, external_ids: Iterable[str]) -> dict[str, dict]:
        """{external_id: data} of those live records (a connector that merges what it stores with
        what it stored before, e.g. a day of health samples arriving in two parts)."""


class PageUrls(Protocol):
    def url(self, name: str, *args) -> str:
        """The address of one of the hub's pages (e.g. "oauth:photos_pick")."""


class NoKnownRecords:
    """For a connection being tested before anything is saved."""

    def versions(self, external_ids=None) -> dict[str, str]:
        return {}

    def ids(self, prefix: str = "", *, occurred_within: tuple | None = None) -> set[str]:
        return set()

    def data(self, external_ids) -> dict[str, dict]:
        return {}
