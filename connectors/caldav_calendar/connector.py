"""The CalDAV connector: incremental sync by sync-token (RFC 6578), ctag + etag fallback, and
tasks pushed out as VTODO (or VEVENT).

The cursor (JSON) remembers, per calendar path, the sync token and ctag of the last completed
sync, plus the calendar home URL (so a no-change sync is one PROPFIND), and, while a full
listing of a calendar is under way, where it stands (`pending`), so a killed worker resumes
after the last stored batch instead of starting again.

    {"v": 1, "server": url, "home": url, "full": false, "done": [], "fetched": 0, "pending": null,
     "calendars": {"/alice/work/": {"sync_token": "...", "ctag": "...", "name": "Work"}}}
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from django.conf import settings

from connectors.base import Batch, Connector, Delivery
from connectors.errors import ConfigError, ItemError, ResponseTooLarge
from connectors.kinds import calendar_fields
from connectors.registry import registry

log = logging.getLogger(__name__)
CURSOR_VERSION = 1


@dataclass
class SyncState:
    server: str
    home: str | None = None
    calendars: dict = field(default_factory=dict)
    full: bool = True
    done: list = field(default_factory=list)
    pending: dict | None = None
    fetched: int = 0

    @classmethod
    def load(cls, cursor, server: str) -> SyncState:
        if not isinstance(cursor, dict) or cursor.get("v") != CURSOR_VERSION or cursor.get("server") != server:
            return cls(server=server)  # a full sync: first one, or the integration now points elsewhere
        return cls(
            server=server,
            home=cursor.get("home"),
            calendars=dict(cursor.get("calendars") or {}),
            full=bool(cursor.get("full")),
            done=list(cursor.get("done") or []),
            pending=cursor.get("pending"),
            fetched=int(cursor.get("fetched") or 0),
        )

    def dump(self) -> dict:
        return {
            "v": CURSOR_VERSION,
            "server": self.server,
            "home": self.home,
            "calendars": {path: dict(entry) for path, entry in self.calendars.items()},
            "full": self.full,
            "done": list(self.done),
            "pending": dict(self.pending) if self.pending else None,
            "fetched": self.fetched,
        }


@dataclass
class Plan:
    """What one sync does for one calendar, decided before anything is fetched."""

    calendar: object  # dav.CalendarInfo
    fetch: list  # dav.Member, sorted by path
    deletes: list[str]
    done_state: dict  # the calendar's cursor entry once everything is stored
    pending: dict | None = None  # for a full listing: where it stands, resumable


@registry.register("caldav")
class CalDAVConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"event": "event", "task": "task", "journal": "note"}

    @staticmethod
    def typed_fields(item) -> dict:
        return calendar_fields(item.data)

    supports_write = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self._dav = None
        self._unsent: set[str] = set()  # objects the server listed but did not send this sync

    # -- settings --------------------------------------------------------------------------------

    def _setting(self, name: str, default=None):
        for source in (self.config, self.secrets):
            value = source.get(name)
            if value not in (None, ""):
                return value
        return default

    @property
    def server_url(self) -> str:
        url = str(self._setting("server_url", "")).strip()
        if not url:
            raise ConfigError("No CalDAV server URL is set.", remediation="Enter your server URL.", field="server_url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                "The CalDAV server URL must start with https:// (or http://).",
                remediation="Enter the full address, e.g. https://caldav.fastmail.com/dav/.",
                field="server_url",
            )
        # Credentials typed into the URL are dropped: the username and password fields carry them,
        # and the URL shows up in messages and cursors.
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc += f":{parts.port}" if parts.port else ""
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return urlunsplit((parts.scheme, netloc, path, parts.query, ""))

    @property
    def use_sync_token(self) -> bool:
        value = self._setting("use_sync_token", True)
        return value not in (False, "false", "0", 0, "off", "no")

    @property
    def dav(self):
        if self._dav is None:
            from connectors.caldav_calendar.dav import DavSession

            username = str(self._setting("username", "")).strip()
            password = str(self._setting("password", ""))
            if not username or not password:
                raise ConfigError(
                    "The CalDAV username or password is missing.",
                    remediation="Reconnect the integration with your username and (app) password.",
                    field="password" if username else "username",
                )
            self._dav = DavSession(self.server_url, username, password, self.http.policy)
        return self._dav

    def close(self):
        if self._dav is not None:
            self._dav.close()
            self._dav = None

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> str:
        calendars = self.dav.calendars(self.dav.home_url())
        if not calendars:
            raise ConfigError(
                "The account has no calendars.",
                remediation="Create a calendar in your calendar app, or check the server URL.",
                field="server_url",
            )
        self._select(calendars)  # names the calendars that do not exist
        return self.dav.identity

    def _calendars(self, state: SyncState) -> list:
        """All calendars of the account, from the remembered home (one request) or by discovery."""
        from connectors.caldav_calendar.dav import DavStatus

        # The ctag is the cheapest "did anything change?" (a stored value on most servers, and less
        # work than the sync token on Radicale); the sync token is asked for too only where the
        # server gave no ctag. A full sync takes its token from the sync report itself.
        without_ctag = any(not entry.get("ctag") for entry in state.calendars.values())
        markers = {"ctag": True, "sync_token": self.use_sync_token and not state.full and without_ctag}
        if state.home:
            try:
                return self.dav.calendars(state.home, **markers)
            except DavStatus as exc:
                if exc.code not in (404, 410, 301, 302):
                    raise exc.as_connector_error() from None
                log.info("CalDAV home %s moved (HTTP %s); discovering it again", state.home, exc.code)
        state.home = self.dav.home_url()
        try:
            return self.dav.calendars(state.home, **markers)
        except DavStatus as exc:
            raise exc.as_connector_error() from None

    def _select(self, calendars: list) -> list:
        wanted = self._setting("calendars") or []
        if isinstance(wanted, str):
            wanted = wanted.replace(",", "\n").splitlines()
        wanted = [w.strip() for w in wanted if w and w.strip()]
        if not wanted:
            own = unquote(urlsplit(self.server_url).path).rstrip("/") + "/"
            pointed = [c for c in calendars if c.path == own]
            if pointed:  # the server URL is a calendar itself: that one only
                return pointed
            return [c for c in calendars if c.holds("VEVENT") or c.holds("VTODO")]
        chosen, missing = [], []
        for name in wanted:
            match = [c for c in calendars if c.matches(name)]
            if not match:
                missing.append(name)
            chosen.extend(c for c in match if c not in chosen)
        if missing:
            have = ", ".join(c.name for c in calendars) or "none"
            raise ConfigError(
                f"No calendar named {', '.join(missing)} on this account (it has: {have}).",
                remediation="Fix the calendar names in the integration's settings, or leave them empty for all.",
                field="calendars",
            )
        return chosen

    # -- sync ------------------------------------------------------------------------------------

    def list_changes(self, cursor):
        state = SyncState.load(cursor, self.server_url)
        everything = self._calendars(state)
        selected = self._select(everything)
        existing = {c.path for c in everything}
        plans = []
        for calendar in selected:
            previous = state.calendars.get(calendar.path)
            if previous is None or (state.full and calendar.path not in state.done):
                plans.append(self._plan_full(calendar, state))
            else:
                plans.append(self._plan_incremental(calendar, previous))
        total = state.fetched + sum(len(p.fetch) for p in plans)
        size = max(1, int(settings.SYNC_BATCH_SIZE))
        since = self._window_start()

        for plan in plans:
            calendar = plan.calendar
            if plan.pending is not None:
                state.pending = dict(plan.pending)
            chunks = [plan.fetch[i : i + size] for i in range(0, len(plan.fetch), size)] or [[]]
            for index, chunk in enumerate(chunks):
                self.ctx.heartbeat()
                items, errors, gone = self._fetch(calendar, chunk) if chunk else ([], [], [])
                if since is not None and items:
                    items = self._in_window(items, since)
                state.fetched += len(chunk)
                deletes = gone
                if plan.pending is not None and chunk:
                    state.pending["after"] = chunk[-1].path
                if index == len(chunks) - 1:  # the calendar is complete with this batch
                    deletes = sorted(set(gone) | set(plan.deletes))
                    state.calendars[calendar.path] = plan.done_state
                    if any(path.startswith(calendar.path) for path in self._unsent):
                        # Objects the server did not send would never be listed as changed again:
                        # without a token or ctag, the next sync compares etags and asks for them.
                        state.calendars[calendar.path] = {**plan.done_state, "sync_token": None, "ctag": None}
                    state.pending = None
                    if state.full and calendar.path not in state.done:
                        state.done.append(calendar.path)
                    if not (chunk or deletes):
                        continue  # nothing to store: the final batch carries its state
                yield Batch(items=items, errors=errors, deletes=deletes, cursor=state.dump(), total=total)

        # Calendars gone from the server: their records become tombstones. Calendars merely left
        # out of the selection are forgotten (their records stay, as synced).
        selected_paths = {c.path for c in selected}
        if state.full:
            stale = [i for i in self.ctx.known_ids() if not any(i.startswith(p) for p in existing)]
        else:
            stale = [i for p in state.calendars if p not in existing for i in self.ctx.known_ids(p)]
        state.calendars = {p: e for p, e in state.calendars.items() if p in selected_paths}
        state.full, state.done, state.pending, state.fetched = False, [], None, 0
        yield Batch(deletes=sorted(stale), cursor=state.dump(), total=total)

    def _list_all(self, calendar, *, with_data: bool = False):
        """(every member with its etag, and its data when asked, a fresh sync token or None)."""
        from connectors.caldav_calendar.dav import InvalidSyncToken, SyncUnsupported

        if self.use_sync_token:
            try:
                changes = self._sync_collection(calendar, None, with_data=with_data)
                return changes.changed, changes.sync_token
            except (SyncUnsupported, InvalidSyncToken) as exc:
                log.info("Calendar %s: no sync-collection (%s); listing etags instead", calendar.path, exc)
        return self.dav.members(calendar), None

    def _sync_collection(self, calendar, token, *, with_data: bool):
        try:
            return self.dav.sync_collection(calendar, token, with_data=with_data)
        except ResponseTooLarge:
            if not with_data:
                raise
            # Too much for one answer: list hrefs and etags only, then fetch in batches (multiget).
            log.info("Calendar %s: too large to fetch in one report; fetching in batches", calendar.path)
            return self.dav.sync_collection(calendar, token)

    def _plan_full(self, calendar, state: SyncState) -> Plan:
        pending = state.pending if state.pending and state.pending.get("calendar") == calendar.path else None
        # One pass over the calendar: the sync report brings every object's data along. Resuming
        # a listing cut short, only the hrefs are listed and the rest is fetched by multiget.
        members, token = self._list_all(calendar, with_data=pending is None)
        if pending is None:  # the token and ctag of the moment we listed: changes after it show up next time
            pending = {"calendar": calendar.path, "sync_token": token, "ctag": calendar.ctag, "after": ""}
        after = pending.get("after") or ""
        present = {m.path for m in members}
        deletes = sorted(i for i in self.ctx.known_ids(calendar.path) if i not in present)
        done = {"sync_token": pending.get("sync_token"), "ctag": pending.get("ctag"), "name": calendar.name}
        fetch = [m for m in members if m.path > after]
        return Plan(calendar, fetch, deletes, done, pending=pending)

    def _plan_incremental(self, calendar, previous: dict) -> Plan:
        from connectors.caldav_calendar.dav import InvalidSyncToken, SyncUnsupported

        unchanged = {**previous, "name": calendar.name}
        token = previous.get("sync_token")
        if (calendar.sync_token and calendar.sync_token == token) or (
            calendar.ctag and calendar.ctag == previous.get("ctag")
        ):
            return Plan(calendar, [], [], unchanged)  # nothing changed: not one more request
        if self.use_sync_token and token:
            try:
                changes = self._sync_collection(calendar, token, with_data=True)
            except InvalidSyncToken:
                log.info("Calendar %s: the server no longer knows our sync token; comparing etags", calendar.path)
            except SyncUnsupported as exc:
                log.info("Calendar %s: sync-collection refused (%s); comparing etags", calendar.path, exc)
            else:  # what we already hold at that version (a resumed sync) is not fetched again
                known = self.ctx.known_versions([m.path for m in changes.changed])
                fetch = [m for m in changes.changed if not m.etag or known.get(m.path) != m.etag]
                done = {"sync_token": changes.sync_token, "ctag": calendar.ctag, "name": calendar.name}
                return Plan(calendar, fetch, changes.deleted, done)
        # ctag changed (or no usable token): list every etag, fetch only what differs from ours.
        members, fresh_token = self._list_all(calendar)
        known = {k: v for k, v in self.ctx.known_versions().items() if k.startswith(calendar.path)}
        fetch = [m for m in members if not m.etag or known.get(m.path) != m.etag]
        present = {m.path for m in members}
        deletes = sorted(i for i in known if i not in present)
        done = {"sync_token": fresh_token, "ctag": calendar.ctag, "name": calendar.name}
        return Plan(calendar, fetch, deletes, done)

    def _fetch(self, calendar, members: list):
        """(CalendarObjects, ItemErrors, paths gone meanwhile) for `members`: the data the listing
        brought along, and a calendar-multiget for the rest."""
        items, missing = [], []
        for member in members:
            if member.data is not None:
                items.append(self._object(calendar, member, member.etag, member.data))
                member.data = None  # the object holds it now; the plan need not
            else:
                missing.append(member)
        if not missing:
            return items, [], []
        more, errors, gone = self._multiget(calendar, missing)
        return items + more, errors, gone

    def _object(self, calendar, member, etag: str, data: str):
        from connectors.caldav_calendar.ical import CalendarObject

        return CalendarObject(
            external_id=member.path,
            etag=etag or member.etag,
            url=urljoin(calendar.url, member.href),
            calendar=calendar.name,
            ics=data,
            timezone=calendar.timezone,
        )

    def _multiget(self, calendar, members: list):
        """(CalendarObjects, ItemErrors, paths gone meanwhile) for `members`, by calendar-multiget."""
        try:
            fetched = self.dav.multiget(calendar, members)
        except ResponseTooLarge:
            if len(members) == 1:
                error = ItemError(
                    f"{members[0].path.rsplit('/', 1)[-1]} in calendar {calendar.name!r} is larger than the "
                    "download limit; it was skipped.",
                    external_id=members[0].path,
                )
                return [], [error], []
            half = len(members) // 2
            first, second = self._multiget(calendar, members[:half]), self._multiget(calendar, members[half:])
            return first[0] + second[0], first[1] + second[1], first[2] + second[2]
        by_path = {f.path: f for f in fetched}
        items, errors, gone = [], [], []
        for member in members:
            found = by_path.get(member.path)
            if found is not None and found.status == 404:
                gone.append(member.path)  # deleted between the listing and now
            elif found is None or not found.data:
                self._unsent.add(member.path)
                status = f" (HTTP {found.status})" if found is not None and found.status not in (None, 200) else ""
                errors.append(
                    ItemError(
                        f"The server did not send {member.path.rsplit('/', 1)[-1]} of calendar {calendar.name!r}"
                        f"{status}; the next sync asks for it again.",
                        external_id=member.path,
                    )
                )
            else:
                items.append(self._object(calendar, member, found.etag, found.data))
        return items, errors, gone

    def _window_start(self) -> datetime.datetime | None:
        days = self._setting("window_past_days")
        if days in (None, ""):
            return None
        try:
            days = int(days)
        except (TypeError, ValueError):
            raise ConfigError("Days of past events must be a whole number.", field="window_past_days") from None
        return datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=max(0, days))

    def _in_window(self, items: list, since: datetime.datetime) -> list:
        """Objects that end before the window are left out, unless we already hold them."""
        from connectors.caldav_calendar.ical import ends_after

        old = {i.external_id for i in items if not ends_after(i, since)}
        if not old:
            return items
        known = self.ctx.known_versions(old)
        return [i for i in items if i.external_id not in old or i.external_id in known]

    def transform(self, raw):
        from connectors.caldav_calendar.ical import to_record

        return to_record(raw, floating_zone=self.ctx.zone())

    # -- delivery -------------------------------------------------------------------------------

    def send(self, cards: list, config: dict) -> Delivery:
        from connectors.caldav_calendar.write import deliver

        return deliver(self.dav, cards, config or {})
