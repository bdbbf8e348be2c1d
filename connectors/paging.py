"""One guard for every paginated listing: a provider that hands back a page token, cursor or next
link it already gave in the same listing (or never stops handing out new ones) would otherwise make
the sync loop forever, holding the integration's only job slot. The guard stops such a listing
with a TransientError naming the provider; nothing of the listing is tombstoned (the listing is
not complete), and the next sync starts again."""

from __future__ import annotations

from connectors.errors import TransientError

# Far beyond any real account (Gmail pages of 500 ids: 25 million messages), yet finite.
MAX_PAGES = 50_000


class PageGuard:
    """Follow one listing's page tokens: `token = guard.follow(response.get("nextPageToken"))`
    returns the token (None at the end) and raises when the token was seen before in this listing
    or when the listing has gone on for more than `max_pages` pages."""

    def __init__(self, provider: str, *, what: str = "", max_pages: int = MAX_PAGES, start=None):
        self.provider = provider
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[str] = set()
        if start is not None and start != "":
            self._seen.add(str(start))

    def follow(self, token):
        if token is None or token == "":
            return token
        self.pages += 1
        listing = f"{self.provider}'s {self.what} listing" if self.what else f"{self.provider}'s listing"
        key = str(token)
        if key in self._seen:
            raise TransientError(
                f"{listing} handed back a page it had already given (the same next-page token twice); "
                "the hub stopped reading it instead of going round in circles.",
                remediation=f"Nothing was removed. The next sync tries again; if this keeps happening, {self.provider} "
                "has a problem on its side: try again later.",
            )
        if self.pages > self.max_pages:
            raise TransientError(
                f"{listing} went on for more than {self.max_pages:,} pages without ending; the hub stopped reading it.",
                remediation=f"Nothing was removed. The next sync tries again; if this keeps happening, {self.provider} "
                "has a problem on its side: try again later.",
            )
        self._seen.add(key)
        return token
