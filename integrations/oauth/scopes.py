"""Which of a blueprint's OAuth scopes a grant lacks, and so what will not work.

Used right after the callback (the token response's "scope") and on the integration's page (the
scopes stored on the Credential, kept up to date by every refresh), so the warning lasts as long
as the missing permission does instead of being a one-time message.
"""

from __future__ import annotations

# Providers that answer with fully qualified scope names for the short ones we ask for.
QUALIFIED_PREFIXES = ("https://graph.microsoft.com/",)


def normal_scope(scope: str) -> str:
    scope = scope.strip().lower()
    for prefix in QUALIFIED_PREFIXES:
        if scope.startswith(prefix):
            scope = scope[len(prefix) :]
    return scope


def not_granted(itype, granted: list[str] | None, *, has_refresh_token: bool) -> list[dict]:
    """[{"scope", "purpose"}] of the blueprint's scopes missing from `granted`. None or an empty
    list means unknown (RFC 6749 3.3: an omitted scope means exactly the requested ones)."""
    if not granted:
        return []
    granted_set = {normal_scope(s) for s in granted}
    missing = []
    for entry in itype.oauth_scopes or []:
        name = normal_scope(entry["scope"])
        if name in granted_set:
            continue
        if name == "offline_access" and has_refresh_token:
            continue  # Microsoft leaves it out of "scope", but the refresh token proves it was granted
        missing.append({"scope": entry["scope"], "purpose": entry["purpose"]})
    return missing
