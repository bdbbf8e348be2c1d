"""Web page watcher: a page without a feed turned into items with CSS selectors.

The page and its robots.txt are fetched through the hub's one outbound path (SSRF guard, size
cap, timeouts, the blueprint's 6 requests per minute); the HTML is parsed as served, without
running JavaScript (BeautifulSoup with soupsieve selectors). Each entry becomes a record whose
external id is its absolute link (or a hash of its title when it has none), so a re-check adds
only new entries.

robots.txt is always respected (RFC 9309), for the product token "MetaCortex" of our
User-Agent: the groups naming it, else the "*" groups; the longest matching Allow/Disallow
pattern wins (Allow on a tie), with the "*" and "$" wildcards. urllib.robotparser is not used:
it takes the first matching rule rather than the longest and ignores wildcards, so it would
let through pages a site disallows with "Disallow: /*.pdf$" or "Allow: /a" after "Disallow: /".
A missing robots.txt (any 4xx) allows everything; a 5xx or an unreachable server means
"disallowed for now" (RFC 9309 section 2.3.1.4), reported as a temporary error.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from urllib.parse import unquote, urljoin, urlsplit

import soupsieve
from bs4 import BeautifulSoup

from connectors.base import Connector, Record
from connectors.errors import ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, merged_config, truncate

PRODUCT_TOKEN = "metacortex"  # noqa: S105 - a robots.txt product token, not a secret; of connectors.http.USER_AGENT, lower-cased as RFC 9309 compares it
ROBOTS_MAX = 500 * 1024  # RFC 9309: parse at least the first 500 KiB
HTML_TYPES = ("text/html", "application/xhtml+xml")


class RobotsRules:
    """The rules of one robots.txt for one product token (RFC 9309 sections 2.1-2.2)."""

    def __init__(self, text: str, token: str = PRODUCT_TOKEN):
        groups: list[tuple[list[str], list[tuple[bool, str]]]] = []
        agents: list[str] | None = None
        rules: list[tuple[bool, str]] = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            key, sep, value = line.partition(":")
            key, value = key.strip().lower(), value.strip()
            if not sep:
                continue
            if key == "user-agent":
                if agents is None or rules:
                    agents, rules = [], []
                    groups.append((agents, rules))
                agents.append(value.lower())
            elif key in ("allow", "disallow") and agents is not None and value:
                rules.append((key == "allow", value))
        mine = [r for a, r in groups if any(agent.split("/")[0].strip() == token for agent in a)]
        if not mine:
            mine = [r for a, r in groups if "*" in a]
        self.rules = [rule for group in mine for rule in group]

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        path = unquote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if path == "/robots.txt":
            return True
        best: tuple[int, bool] | None = None
        for allow, pattern in self.rules:
            if _pattern(unquote(pattern)).match(path):
                candidate = (len(pattern), allow)
                if best is None or candidate > best:  # longer wins; on a tie, allow (True > False)
                    best = candidate
        return True if best is None else best[1]


def _pattern(pattern: str) -> re.Pattern:
    anchored = pattern.endswith("$")
    body = re.escape(pattern[:-1] if anchored else pattern).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""))


def _text(element) -> str:
    return " ".join(element.get_text(" ", strip=True).split()) if element is not None else ""


@registry.register("web_scraper")
class WebScraperConnector(QueryAsSync, Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"web_item": "article"}

    def __init__(self, ctx):
        super().__init__(ctx)
        self._robots: dict[str, RobotsRules] = {}

    def page_url(self, settings: dict) -> str:
        url = (settings.get("url") or self.secrets.get("url") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("The page address must be a full http:// or https:// URL.", field="url")
        return url

    def test_connection(self) -> str:
        records = self.query({})
        host = urlsplit(self.page_url(self.config)).hostname
        sample = f' (first: "{truncate(records[0].title, 60)}")' if records else ""
        return f"{host}: {len(records)} entr{'y' if len(records) == 1 else 'ies'} found{sample}"

    def query(self, config: dict) -> list[Record]:
        settings = merged_config(self, config)
        url = self.page_url(settings)
        self._check_robots(url)
        response = self.http.get(url, headers={"Accept": "text/html,application/xhtml+xml;q=0.9"}, ok=ANY_STATUS)
        self._check_status(response, "the page")
        if response.url != url:  # redirected: the final page must be allowed too
            self._check_robots(response.url)
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind and kind not in HTML_TYPES:
            raise ConfigError(
                f"The address did not return a web page (it sent {kind}).",
                field="url",
                remediation="Give the address of an HTML page; for a feed, use the RSS type.",
            )
        encoding = response.encoding if "charset=" in response.headers.get("Content-Type", "").lower() else None
        soup = BeautifulSoup(response.content, "html.parser", from_encoding=encoding)
        return self._extract(soup, response.url, settings)

    # robots.txt ---------------------------------------------------------------------------------

    def _check_robots(self, url: str):
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._fetch_robots(origin, parts.hostname)
        if not self._robots[origin].allows(url):
            raise ConfigError(
                f"robots.txt of {parts.hostname} does not allow automated access to {parts.path or '/'}.",
                field="url",
                remediation="The site asks robots not to fetch this page; the hub respects that. Choose another page.",
            )

    def _fetch_robots(self, origin: str, host: str) -> RobotsRules:
        try:
            response = self.http.get(f"{origin}/robots.txt", ok=ANY_STATUS)
        except TransientError as exc:
            raise TransientError(
                f"robots.txt of {host} could not be fetched ({exc.message}); until it can, nothing is fetched there."
            ) from exc
        if 400 <= response.status_code < 500 and response.status_code != 429:
            return RobotsRules("")  # "unavailable": everything is allowed (RFC 9309 2.3.1.3)
        if response.status_code >= 500:
            raise TransientError(
                f"robots.txt of {host} answered HTTP {response.status_code}; "
                "until it can be read, the site counts as disallowed (RFC 9309)."
            )
        self._check_status(response, "robots.txt")
        return RobotsRules(response.content[:ROBOTS_MAX].decode("utf-8", "replace"))

    def _check_status(self, response, what: str):
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            raise RateLimited(f"The site rate limited us fetching {what}.", retry_after=retry_after_seconds(response))
        if status >= 500:
            raise TransientError(f"The site had an error fetching {what} (HTTP {status}).")
        if status in (401, 403):
            raise ConfigError(
                f"The site refused access to {what} (HTTP {status}).",
                field="url",
                remediation="Only public pages can be watched.",
            )
        raise ConfigError(
            f"The site answered HTTP {status} for {what}.", field="url", remediation="Check the page address."
        )

    # Extraction ---------------------------------------------------------------------------------

    def _select(self, node, selector: str, field: str, *, one: bool):
        try:
            return node.select_one(selector) if one else node.select(selector)
        except soupsieve.SelectorSyntaxError as exc:
            message = str(exc).splitlines()[0]
            raise ConfigError(f'The selector "{selector}" is not valid CSS: {message}', field=field) from None

    def _extract(self, soup, page_url: str, settings: dict) -> list[Record]:
        item_selector = (settings.get("item_selector") or "").strip()
        if not item_selector:
            raise ConfigError("Give a CSS selector for the entries.", field="item_selector")
        base_tag = soup.find("base", href=True)
        base = urljoin(page_url, base_tag["href"]) if base_tag else page_url
        items = self._select(soup, item_selector, "item_selector", one=False)
        if not items:
            raise ConfigError(
                f'The entry selector "{item_selector}" matched nothing on the page.',
                field="item_selector",
                remediation="Inspect an entry on the page and use its selector (pages built by JavaScript look empty).",
            )
        selectors = {name: (settings.get(f"{name}_selector") or "").strip() for name in ("title", "link", "summary")}
        found = dict.fromkeys(selectors, False)
        records, seen_ids = [], set()
        for item in items:
            parts = {}
            for name, selector in selectors.items():
                parts[name] = self._select(item, selector, f"{name}_selector", one=True) if selector else None
                found[name] |= parts[name] is not None
            title = _text(parts["title"]) or truncate(_text(item), 200)
            link = self._link(parts["link"] if selectors["link"] else item, base)
            if not title and not link:
                continue
            external_id = link or "title:" + hashlib.sha256(title.encode()).hexdigest()[:20]
            if external_id in seen_ids:
                continue
            seen_ids.add(external_id)
            records.append(
                Record(
                    external_id=external_id,
                    kind="web_item",
                    title=truncate(title, 300),
                    summary=truncate(_text(parts["summary"]), 1000),
                    occurred_at=_published(item),
                    source_url=link,
                    data={"link": link, "page_url": page_url},  # no position: a new entry on top would "change" all
                )
            )
        for name, selector in selectors.items():
            if selector and not found[name]:
                raise ConfigError(
                    f'The {name} selector "{selector}" matched nothing inside any entry.',
                    field=f"{name}_selector",
                    remediation="Selectors other than the entry selector are looked up inside each entry.",
                )
        return records

    @staticmethod
    def _link(element, base: str) -> str:
        if element is None:
            return ""
        anchor = element if element.name == "a" and element.get("href") else element.find("a", href=True)
        if anchor is None:
            return ""
        url = urljoin(base, anchor["href"].strip())
        return url.split("#", 1)[0] if urlsplit(url).scheme in ("http", "https") else ""


def _published(item) -> datetime.datetime | None:
    stamp = item.find("time", datetime=True)
    if stamp is None:
        return None
    try:
        value = datetime.datetime.fromisoformat(stamp["datetime"].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
