"""The connector interface. One subclass per external service, registered by key.

A connector only talks to its service: it never writes to the database. The sync engine
(integrations.sync) does upserts, dedup, checkpoints, retries and rate limiting with what the
connector yields.

    test_connection()       -> the account identity (e.g. mailbox address), or a ConnectorError
    list_changes(cursor)    -> Batches of raw items, each with the cursor valid once it is stored;
                               cursor None means a full sync
    transform(raw)          -> a Record (normalized; unmapped source fields stay in data)
    query(config)           -> fresh Records for a workflow step, for direct-query sources
    send(cards, config)     -> a Delivery, for output types (cards are OutgoingCard)
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from connectors import masking
from connectors.errors import ConfigError, ConnectorError, ItemError
from connectors.ports import KnownRecords, NoKnownRecords, PageUrls
from connectors.zones import zone_named


def _noop():
    return None


@dataclass
class Record:
    external_id: str
    kind: str
    title: str = ""
    summary: str = ""
    occurred_at: datetime.datetime | None = None
    data: dict = field(default_factory=dict)
    source_url: str = ""
    version: str = ""  # the provider's version marker (ETag, MODSEQ): lets the next sync skip it
    unmapped: list[str] = field(default_factory=list)  # source fields kept only in data
    # What identifies the same thing when its external id changes (IMAP: folder + Message-ID after
    # a UIDVALIDITY change): a record tombstoned by Batch.reset_prefix is revived by it, not recreated.
    match_key: str = ""


@dataclass
class Batch:
    items: list = field(default_factory=list)  # raw items, each passed to transform()
    deletes: list[str] = field(default_factory=list)  # external ids gone at the source
    cursor: Any = None  # where to resume once this batch is stored
    total: int | None = None  # how many items this sync expects, when the source says
    errors: list[ItemError] = field(default_factory=list)  # items that could not even be fetched
    # What the user should know that is not one unreadable record (e.g. the provider forgot data
    # older than its limit): the job ends partial with these as its remediation.
    notices: list[str] = field(default_factory=list)
    # The source's identity changed (e.g. IMAP UIDVALIDITY): records whose external id starts with
    # this prefix are dropped before this batch is stored, for a clean resync of that scope.
    reset_prefix: str | None = None


@dataclass
class OutgoingCard:
    """What an output receives from a workflow: a card already rendered for delivery."""

    title: str
    markdown: str = ""
    html: str = ""  # markdown rendered and sanitized (nh3): safe to send as HTML
    data: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    url: str = ""
    due: datetime.datetime | datetime.date | None = None  # tasks: pushed to calendars as VTODO/VEVENT
    key: str = ""  # stable idempotency key: delivering the same card twice must not duplicate it


@dataclass
class Delivery:
    """What an output delivered. When a send fails part-way, the connector raises its error with
    the cards already delivered attached as `error.delivery` (a Delivery), so a retry can skip them."""

    delivered: int = 0
    detail: str = ""
    external_ids: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What a connector may use. Built by the engine, the web views and the workflow runner."""

    config: dict
    secrets: dict
    http: Any  # connectors.http.HttpClient
    integration: Any = None  # integrations.models.Integration, None while testing a new one
    credential: Any = None  # integrations.models.Credential (OAuth tokens), when saved
    options: dict = field(default_factory=dict)  # e.g. {"since": date} for a backfill
    tokens: Any = None  # an OAuth token provider (refreshes ahead of expiry), for OAuth types
    heartbeat: Callable[[], None] = _noop  # call during long fetches: proves the worker is alive
    # The owner's zone name (integrations.timezones), "" for the hub's TIME_ZONE: where times
    # written without an offset (a camera's clock, a floating event) were read by that person.
    # Either the name or a port that looks it up, asked once and only by connectors that need it.
    time_zone: str | Callable[[], str] = ""

    # Ports implemented by the hub (integrations.sync.ports): connectors never touch its database.
    known: KnownRecords = field(default_factory=NoKnownRecords)  # the records already stored

    def __post_init__(self):
        # The HTTP client quotes error bodies (connectors.errors.from_status): it masks this
        # integration's secrets in them.
        if hasattr(self.http, "hidden_in_errors"):
            self.http.hidden_in_errors = self.secret_texts

    def zone(self) -> zoneinfo.ZoneInfo:
        if callable(self.time_zone):
            self.time_zone = self.time_zone() or ""
        return zone_named(self.time_zone) or zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def secret_texts(self) -> list[str]:
        """What would give away this integration's secrets if an error quoted it (see masking).
        Computed when asked: an OAuth refresh replaces the tokens while the connector runs."""
        credential = self.credential
        tokens = (getattr(credential, "access_token", None), getattr(credential, "refresh_token", None))
        return masking.secret_texts(self.secrets, self.config, tokens=[t for t in tokens if isinstance(t, str)])

    def quote(self, body, limit: int = masking.QUOTE_LIMIT) -> str:
        """A provider's answer, fit to put in an error: this integration's secrets masked, capped."""
        return masking.quote_body(body, self.secret_texts(), limit)

    def mask(self, text) -> str:
        return masking.mask_secrets(text, self.secret_texts())

    def known_versions(self, external_ids: Iterable[str] | None = None) -> dict[str, str]:
        """{external_id: version} of the live records already stored for this integration."""
        return self.known.versions(external_ids)

    def known_ids(self, prefix: str = "", *, occurred_within: tuple | None = None) -> set[str]:
        """External ids of the live records (starting with `prefix`). With occurred_within=(start,
        end), only records that occur in [start, end) or have no time: what a listing bounded by
        that window must show, so the only ones its absence can tombstone."""
        return self.known.ids(prefix, occurred_within=occurred_within)

    def known_data(self, external_ids: Iterable[str]) -> dict[str, dict]:
        """{external_id: data} of the live records already stored under these ids."""
        return self.known.data(external_ids)


_GUARDED = ("test_connection", "list_changes", "query", "send")


@dataclass(frozen=True)
class DailySeries:
    """One chart of daily values for the integration's page, from the items it imported: `days` is
    [(date, value)] in date order, a value being a number or (lowest, average, highest) for a
    measure shown as a day's range (heart rate). Days without data are left out; first and last
    bound the chart's time axis."""

    title: str
    unit: str
    first: datetime.date
    last: datetime.date
    days: list[tuple[datetime.date, Any]]


class Connector:
    key: str = ""  # set by registry.register
    # Class-level capability flags, read by the UI and the engine.
    supports_write = False  # e.g. push tasks to a calendar, append mail
    # Whose requests the provider's rate limit counts together, so the hub keys its shared window
    # the same way: "integration" (each connection its own), "token" (one API token, whichever
    # connections hold it), "account" (one account at the provider, by its identity) or "app"
    # (the hub's own OAuth client, every user together).
    rate_limit_scope = "integration"

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def __init_subclass__(cls, **kwargs):
        """Whatever a connector's error quotes (a provider's body echoing the request path, a
        message naming a header), it leaves the connector with this integration's secrets masked:
        job errors, statuses, notifications, the audit log, the API and the logs all start here."""
        super().__init_subclass__(**kwargs)
        for name in _GUARDED:
            method = getattr(cls, name)
            if method is not getattr(Connector, name) and not getattr(method, "masks_secrets", False):
                setattr(cls, name, _masking_errors(method))

    def quote(self, body, limit: int = masking.QUOTE_LIMIT) -> str:
        return self.ctx.quote(body, limit)

    @property
    def config(self) -> dict:
        return self.ctx.config

    @property
    def secrets(self) -> dict:
        return self.ctx.secrets

    @property
    def http(self):
        return self.ctx.http

    def test_connection(self) -> str:
        """Check the credentials and settings; return the account identity to show the user."""
        raise NotImplementedError

    def list_changes(self, cursor) -> Iterator[Batch]:
        raise ConfigError(f"{type(self).__name__} does not sync data in.")

    def transform(self, raw) -> Record:
        raise NotImplementedError

    def query(self, config: dict) -> list[Record]:
        """Direct-query sources (GitHub search, weather, a scraped page, Perplexity): fresh results
        for one workflow step, fetched at run time rather than synced in."""
        raise ConfigError(f"{type(self).__name__} cannot be queried directly.")

    def send(self, cards: list, config: dict) -> Delivery:
        raise ConfigError(f"{type(self).__name__} cannot deliver content.")

    def close(self):
        """Release connections (IMAP logout, ...). The engine always calls it."""

    @classmethod
    def page_actions(cls, integration, urls: PageUrls) -> list[tuple[str, str]]:
        """Extra buttons for the integration's page, as (label, url): the Google Photos picker, ...
        `urls` gives the addresses of the hub's pages."""
        return []

    @classmethod
    def daily_charts(cls, items, days: int = 30) -> list[DailySeries]:
        """Charts of daily values for the integration's page, from `items` (its SyncedItem queryset,
        already scoped to the integration): Apple Health's steps, sleep and heart rate."""
        return []

    @classmethod
    def can_sync(cls) -> bool:
        return cls.list_changes is not Connector.list_changes

    @classmethod
    def can_query(cls) -> bool:
        return cls.query is not Connector.query

    @classmethod
    def can_send(cls) -> bool:
        return cls.send is not Connector.send


def _mask_error(ctx: Context, error: ConnectorError) -> None:
    hidden = ctx.secret_texts()
    error.message = masking.mask_secrets(error.message, hidden)
    error.args = (error.message,)
    error.remediation = masking.mask_secrets(error.remediation, hidden)


def _masking_errors(method):
    """Mask secrets in the ConnectorErrors a connector method raises (or yields in a Batch). Other
    exceptions pass untouched: the engine classifies them, and some (a lost job) must stay as they are."""

    def masked_iteration(self, iterator):
        try:
            for value in iterator:
                if isinstance(value, Batch):
                    for error in value.errors:
                        _mask_error(self.ctx, error)
                yield value
        except ConnectorError as error:
            _mask_error(self.ctx, error)
            raise

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
        except ConnectorError as error:
            _mask_error(self.ctx, error)
            raise
        if isinstance(result, Iterator):  # list_changes: errors come while it is iterated
            return masked_iteration(self, result)
        return result

    guarded.masks_secrets = True
    return guarded
