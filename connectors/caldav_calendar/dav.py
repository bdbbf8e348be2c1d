"""The CalDAV protocol side of the connector.

A caldav.DAVClient does discovery (principal, calendar home, with its many server quirks), but
its HTTP goes through the hub's guarded requests session (SSRF guard with address pinning, size
cap, timeouts, retries, rate limit, metrics), never through its own niquests session. The three
requests a sync needs are sent here with bodies we write ourselves and parsed with caldav's
DAVResponse parsers:
  PROPFIND Depth 1 on the calendar home     calendars with their ctag and sync-token (1 request)
  REPORT sync-collection (RFC 6578)         what changed since a token (hrefs + etags only)
  REPORT calendar-multiget (RFC 4791 7.9)   the data of up to a batch of objects at once
plus PROPFIND Depth 1 on a calendar (every href + etag) for servers without sync tokens.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import caldav
import requests
from caldav.lib import error as dav_error
from lxml import etree

from connectors.errors import AuthError, ConfigError, ConnectorError, RateLimited, TransientError
from connectors.http import guarded_session, retry_after_seconds
from connectors.zones import zone_for_tzid

log = logging.getLogger(__name__)

CS_GETCTAG = "{http://calendarserver.org/ns/}getctag"
CALDAV_CALENDAR = "{urn:ietf:params:xml:ns:caldav}calendar"
COMPONENTS = "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set"
CALENDAR_TIMEZONE = "{urn:ietf:params:xml:ns:caldav}calendar-timezone"
VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"  # noqa: S105 - an XML element name, not a secret
SYNC_PAGES_MAX = 1000  # truncated sync-collection replies followed (RFC 6578 3.6)

_CALENDARS_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">'
    "<D:prop><D:resourcetype/><D:displayname/><C:supported-calendar-component-set/><C:calendar-timezone/>"
    "{extra}</D:prop></D:propfind>"
)
_ETAGS_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>'
)


class InvalidSyncToken(Exception):
    """The server no longer knows our sync token (RFC 6578 3.2, DAV:valid-sync-token)."""


class SyncUnsupported(Exception):
    """The server refused the sync-collection REPORT: use ctag + etags instead."""


@dataclass
class CalendarInfo:
    path: str  # unquoted path ending in "/": the external-id prefix of the calendar's objects
    url: str
    name: str
    ctag: str | None = None
    sync_token: str | None = None
    components: list[str] = field(default_factory=list)
    timezone: str | None = None  # its default zone (RFC 4791 5.2.2), for floating times

    def holds(self, component: str) -> bool:
        return not self.components or component in self.components

    def matches(self, name: str) -> bool:
        """Whether the user means this calendar: by display name, path, last path segment or URL."""
        key = name.strip().lower().rstrip("/")
        segment = self.path.rstrip("/").rsplit("/", 1)[-1].lower()
        return key in (self.name.lower(), self.path.lower().rstrip("/"), segment, self.url.lower().rstrip("/"))


@dataclass
class Member:
    path: str  # unquoted path: the external id
    href: str  # as the server spelled it, for requests
    etag: str = ""
    data: str | None = None  # the iCalendar text, when the listing brought it along


@dataclass
class Changes:
    changed: list[Member]
    deleted: list[str]
    sync_token: str | None


@dataclass
class Fetched:
    path: str
    etag: str
    data: str | None
    status: int = 200


def path_of(href: str) -> str:
    """The canonical form of an href: its unquoted path."""
    return unquote(urlsplit(href).path)


def quote_path(path: str) -> str:
    return quote(path, safe="/:@!$&'()*+,;=~")


class DavSession:
    """One connection to a CalDAV server, for one sync or one delivery."""

    def __init__(self, server_url: str, username: str, password: str, policy):
        self.server_url = server_url
        self.username = username
        self.client = caldav.DAVClient(
            url=server_url,
            username=username,
            password=password,
            auth_type="basic",
            enable_rfc6764=False,  # no DNS SRV/TXT discovery: we connect only to what the user typed
            timeout=policy.timeout,
        )
        self.client.session.close()  # caldav's own niquests session: never used
        self.client.session = guarded_session(policy)
        self.client.auth = requests.auth.HTTPBasicAuth(username, password)
        self.client.headers["User-Agent"] = self.client.session.headers["User-Agent"]

    def close(self):
        self.client.session.close()

    @property
    def identity(self) -> str:
        host = urlsplit(self.server_url).hostname or ""
        return f"{self.username}@{host}" if "@" not in self.username else self.username

    # -- discovery --------------------------------------------------------------------------

    def home_url(self) -> str:
        """The calendar home (RFC 4791 6.2.1), found from the principal of the signed-in user."""
        with translated(f"finding your calendars at {self.server_url}"):
            principal = self.client.principal()
            return str(principal.calendar_home_set.url)

    def calendars(self, home_url: str, *, sync_token: bool = True, ctag: bool = True) -> list[CalendarInfo]:
        """Every calendar collection under the home, with its sync token and ctag, in one request.

        Ask only for the change markers you will use: a server computes each over all the items of
        each calendar (Radicale: ~0.2 s for 5,000 events), so a full sync asks for neither.
        """
        extra = ("<D:sync-token/>" if sync_token else "") + ("<CS:getctag/>" if ctag else "")
        body = _CALENDARS_BODY.format(extra=extra)
        response = self._request("PROPFIND", home_url, body, depth=1, action="listing your calendars")
        found = []
        for result in response.parse_propfind():
            props = result.properties
            types = props.get("{DAV:}resourcetype") or []
            if CALDAV_CALENDAR not in (types if isinstance(types, list) else [types]):
                continue
            path = path_of(result.href)
            if not path.endswith("/"):
                path += "/"
            components = props.get(COMPONENTS) or []
            found.append(
                CalendarInfo(
                    path=path,
                    url=urljoin(home_url, quote_path(path)),
                    name=(props.get("{DAV:}displayname") or "").strip() or path.rstrip("/").rsplit("/", 1)[-1],
                    ctag=props.get(CS_GETCTAG) or None,
                    sync_token=props.get("{DAV:}sync-token") or None,
                    components=components if isinstance(components, list) else [],
                    timezone=_zone_name(props.get(CALENDAR_TIMEZONE)),
                )
            )
        return sorted(found, key=lambda c: c.path)

    # -- listing and fetching ---------------------------------------------------------------

    def sync_collection(self, calendar: CalendarInfo, token: str | None, *, with_data: bool = False) -> Changes:
        """RFC 6578: members changed and removed since `token` (all members when None).

        `with_data` asks for the calendar data in the same report: one pass over the collection
        instead of a listing and then multigets (a server that ignores it leaves data None).
        """
        data_prop = "<C:calendar-data/>" if with_data else ""
        changed: dict[str, Member] = {}
        deleted: set[str] = set()
        current = token
        for _page in range(SYNC_PAGES_MAX):
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f"<D:sync-token>{escape(current or '')}</D:sync-token><D:sync-level>1</D:sync-level>"
                f"<D:prop><D:getetag/>{data_prop}</D:prop></D:sync-collection>"
            )
            try:
                response = self._request("REPORT", calendar.url, body, depth=0, action="asking what changed")
            except DavStatus as status:
                if VALID_SYNC_TOKEN in status.preconditions:
                    raise InvalidSyncToken(str(status)) from None
                if status.code in (400, 403, 405, 409, 412, 415, 422, 501):
                    raise SyncUnsupported(str(status)) from None
                raise status.as_connector_error() from None
            except AuthError as exc:
                cause = exc.__cause__
                if VALID_SYNC_TOKEN in getattr(cause, "preconditions", []):
                    raise InvalidSyncToken(str(cause)) from None
                if getattr(cause, "status", None) == 403:
                    raise SyncUnsupported(str(cause)) from None
                raise
            result = response.parse_sync_collection()
            for entry in result.changed:
                path = path_of(entry.href)
                if path.endswith("/") or path == calendar.path.rstrip("/"):
                    continue  # the collection itself (iCloud lists it among the changes)
                changed[path] = Member(path, quote_path(path), entry.etag or "", entry.calendar_data or None)
                deleted.discard(path)
            for href in result.deleted:
                path = path_of(href)
                changed.pop(path, None)
                deleted.add(path)
            new_token = result.sync_token
            if not (result.truncated and new_token and new_token != current):
                return Changes(sorted(changed.values(), key=lambda m: m.path), sorted(deleted), new_token or current)
            current = new_token  # a truncated reply: ask again from the token it came with
        raise TransientError("The server kept truncating its list of changes; the next sync goes on from here.")

    def members(self, calendar: CalendarInfo) -> list[Member]:
        """Every object of a calendar with its etag (PROPFIND Depth 1), for servers without sync tokens."""
        response = self._request("PROPFIND", calendar.url, _ETAGS_BODY, depth=1, action="listing a calendar")
        found = []
        for result in response.parse_propfind():
            path = path_of(result.href)
            types = result.properties.get("{DAV:}resourcetype") or []
            if path.endswith("/") or types or result.status == 404:
                continue  # the calendar itself, or a sub-collection
            found.append(Member(path, quote_path(path), result.properties.get("{DAV:}getetag") or ""))
        return sorted(found, key=lambda m: m.path)

    def multiget(self, calendar: CalendarInfo, members: list[Member]) -> list[Fetched]:
        """The data and etags of `members`, in one calendar-multiget REPORT."""
        hrefs = "".join(f"<D:href>{escape(m.href)}</D:href>" for m in members)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
        )
        response = self._request("REPORT", calendar.url, body, depth=None, action="fetching events")
        return [
            Fetched(path_of(r.href), r.etag or "", r.calendar_data, r.status) for r in response.parse_calendar_query()
        ]

    def put(self, url: str, ics: str) -> str:
        """Create or replace one object; returns its new etag when the server gives one."""
        with translated("saving to the calendar"):
            response = self.client.put(url, ics, {"Content-Type": "text/calendar; charset=utf-8"})
        if response.status not in (200, 201, 204):
            raise DavStatus(response, "saving to the calendar").as_connector_error()
        return response.headers.get("ETag", "") or ""

    def _request(self, method: str, url: str, body: str, *, depth: int | None, action: str):
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if depth is not None:
            headers["Depth"] = str(depth)
        with translated(action):
            try:
                response = self.client.request(url, method, body, headers)
            except etree.XMLSyntaxError:
                raise cut_short(action) from None
        if response.status not in (200, 207):
            raise DavStatus(response, action, url)
        if response.tree is None:
            # caldav reads an empty body, or XML cut short under a missing Content-Type, as an empty
            # listing: taken as such, it would make every event (or calendar) look deleted.
            raise cut_short(action)
        return response


class DavStatus(Exception):
    """A non-success answer to one of our requests, before it is given its meaning."""

    def __init__(self, response, action: str, url: str = ""):
        self.code = response.status
        self.action = action
        self.url = url
        raw = getattr(response, "_raw", b"") or b""
        self.preconditions = dav_error.parse_preconditions(raw)
        self.retry_after = retry_after_seconds(response)  # seconds, or None when absent or unreadable
        super().__init__(f"HTTP {self.code} while {action}")

    def as_connector_error(self) -> ConnectorError:
        where = _display(self.url) if self.url else "the server"
        if self.code in (404, 410):
            return ConfigError(
                f"Nothing was found at {where} (HTTP {self.code}) while {self.action}.",
                remediation="Check the server URL in the integration's settings; the calendar may have been removed.",
                field="server_url",
            )
        if self.code == 429:
            return RateLimited(
                f"The CalDAV server is rate limiting us (HTTP 429) while {self.action}.", retry_after=self.retry_after
            )
        if self.code == 507:  # before the 5xx below: a full account does not clear up by retrying
            return out_of_space(f" while {self.action}")
        if self.code >= 500:
            return TransientError(f"The CalDAV server had an error (HTTP {self.code}) while {self.action}.")
        return ConfigError(
            f"The CalDAV server answered HTTP {self.code} while {self.action} at {where}.",
            remediation="Check the server URL; it must be a CalDAV server address (ask your provider for it).",
            field="server_url",
        )


def cut_short(action: str) -> TransientError:
    return TransientError(
        f"The CalDAV server's answer was empty or cut short while {action}; nothing was deleted.",
        remediation="The server or a proxy in front of it stopped mid-answer; the hub tries again at the next sync.",
    )


def out_of_space(during: str) -> ConfigError:
    return ConfigError(
        f"The calendar account is out of space (HTTP 507){during}.",
        remediation="Free some space in the calendar account (delete old events or tasks), then try again.",
    )


def _zone_name(vtimezone) -> str | None:
    """The IANA name of a calendar's default zone (a VTIMEZONE text), when it has one."""
    if not isinstance(vtimezone, str):
        return None
    for match in re.finditer(r"^(?:TZID|X-LIC-LOCATION)[^:\r\n]*:(.+?)\r?$", vtimezone, re.MULTILINE):
        zone = zone_for_tzid(match.group(1).strip())  # Windows names too ("W. Europe Standard Time")
        if zone is not None:
            return zone.key
    return None


def _display(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class translated:
    """Turn what the caldav library raises into the hub's error classes, with what we were doing."""

    def __init__(self, action: str):
        self.action = action

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, ConnectorError | DavStatus):
            return False
        mapped = caldav_error(exc, self.action)
        if mapped is None:
            return False
        raise mapped from exc


def caldav_error(exc: BaseException, action: str = "") -> ConnectorError | None:
    """The hub's error for a caldav library exception; None when it is not one."""
    if not isinstance(exc, dav_error.DAVError):
        return None
    during = f" while {action}" if action else ""
    status = getattr(exc, "status", None)
    if isinstance(exc, dav_error.RateLimitError):
        return RateLimited(
            f"The CalDAV server asked us to slow down{during}.", retry_after=getattr(exc, "retry_after_seconds", None)
        )
    if isinstance(exc, dav_error.AuthorizationError):
        if status == 403:
            return AuthError(
                f"The CalDAV server denied this account access{during} (HTTP 403).",
                remediation="Check that the server URL and calendars belong to this account, then reconnect.",
            )
        return AuthError(
            f"The CalDAV server refused the username or password{during} (HTTP 401).",
            remediation=(
                "Reconnect with the right username and password; many providers (iCloud, Fastmail, Nextcloud "
                "with two-factor sign-in) need an app-specific password."
            ),
        )
    if isinstance(exc, dav_error.NotFoundError) or status in (404, 410):
        return ConfigError(
            f"No CalDAV service was found at that address{during}.",
            remediation="Check the server URL: use your provider's CalDAV address (e.g. https://caldav.fastmail.com/dav/).",
            field="server_url",
        )
    if status == 507:
        return out_of_space(during)
    if status and status >= 500:
        return TransientError(f"The CalDAV server had an error (HTTP {status}){during}.")
    if status:
        return ConfigError(
            f"The CalDAV server answered HTTP {status}{during}.",
            remediation="Check the server URL; it must be a CalDAV server address.",
            field="server_url",
        )
    return ConfigError(
        f"The server's answer was not valid CalDAV{during}: {str(exc)[:200]}",
        remediation="Check the server URL; it must be a CalDAV server address (ask your provider for it).",
        field="server_url",
    )


def classify(exc: BaseException) -> ConnectorError | None:
    """For connectors.errors.classify: our own status wrapper and the caldav library's errors."""
    if isinstance(exc, DavStatus):
        return exc.as_connector_error()
    return caldav_error(exc)
