"""Start-up checks. `manage.py check --database default` runs them before anything starts: `make
run`, and the Procfile's web and worker entries before gunicorn and qcluster (gunicorn runs no
system checks, and other management commands skip database-tagged ones). They prove the
configured FERNET_KEYS can read every secret already stored, so a wrong key stops the start
instead of failing later."""

from cryptography.fernet import InvalidToken
from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError

from integrations.rawsecrets import encrypted_columns, multi_fernet

# Rows per query when reading encrypted columns; decrypting is cheap, round trips are not.
CHECK_BATCH_SIZE = 2000


@register()
def connector_modules_import(app_configs, **kwargs):
    from connectors.registry import registry

    registry.autodiscover()
    return [
        Error(
            f"Connector module connectors.{name} failed to import ({error}); its integration types cannot work.",
            hint="Fix the module or its dependency; the rest of the hub keeps running without it.",
            id="metacortex.E002",
        )
        for name, error in registry.failed.items()
    ]


@register(Tags.database)
def fernet_keys_decrypt_stored_secrets(app_configs, **kwargs):
    errors = []
    try:
        for column in encrypted_columns():
            total, unreadable = _count_unreadable(column, multi_fernet(column.field))
            if unreadable:
                errors.append(_unreadable_error(column.label, unreadable, total))
    except DatabaseError:
        return []  # not migrated yet: nothing stored to check
    return errors


def _count_unreadable(column, multi) -> tuple[int, int]:
    total = unreadable = 0
    for rows in column.batches(CHECK_BATCH_SIZE):
        for _pk, token in rows:
            total += 1
            try:
                # Verifies the token's HMAC with each key (what decrypting needs) at half the cost.
                multi.extract_timestamp(token)
            except InvalidToken:
                unreadable += 1
    return total, unreadable


def _unreadable_error(label: str, unreadable: int, total: int) -> Error:
    return Error(
        f"FERNET_KEYS cannot decrypt {unreadable} of {total} stored values of {label}: "
        "the key that encrypted them is missing.",
        hint="Put the old key back in FERNET_KEYS (after the new one), run `manage.py rotate_keys`, "
        "then remove the old key.",
        id="metacortex.E001",
    )


@register()
def heartbeats_outpace_takeover(app_configs, **kwargs):
    """A running job's process beats every quarter of SYNC_STALE_AFTER (integrations.sync.run.Pulse)
    and every worker sweeps every SYNC_SWEEP_EVERY seconds: a sweep interval as long as the stale
    threshold leaves a dead worker's job waiting for nothing."""
    from django.conf import settings

    if settings.SYNC_SWEEP_EVERY < settings.SYNC_STALE_AFTER:
        return []
    return [
        CheckWarning(
            f"SYNC_SWEEP_EVERY ({settings.SYNC_SWEEP_EVERY:g} s) is not shorter than SYNC_STALE_AFTER "
            f"({settings.SYNC_STALE_AFTER:g} s): a dead worker's sync is found late.",
            hint="Lower SYNC_SWEEP_EVERY (default 4) below SYNC_STALE_AFTER (default 10).",
            id="metacortex.W001",
        )
    ]


@register()
def site_url_is_served(app_configs, **kwargs):
    """SITE_URL is the address people are given (mails, OAuth redirects): a host ALLOWED_HOSTS does
    not match answers every request there with 400 Bad Request."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.http.request import validate_host

    host = urlsplit(settings.SITE_URL).hostname or ""
    if not host or validate_host(host, settings.ALLOWED_HOSTS) or (settings.DEBUG and not settings.ALLOWED_HOSTS):
        return []
    return [
        CheckWarning(
            f"SITE_URL's host {host} is not in ALLOWED_HOSTS: every request to it is refused (400 Bad Request).",
            hint=f"Add {host} to ALLOWED_HOSTS (comma-separated).",
            id="metacortex.W002",
        )
    ]


@register(Tags.security, deploy=True)
def https_site_knows_its_proxy(app_configs, **kwargs):
    """gunicorn (the Procfile) serves plain http, so an https SITE_URL has a TLS proxy in front; without
    SECURE_PROXY_SSL_HEADER no request counts as secure and HSTS is never sent."""
    from django.conf import settings

    if settings.DEBUG or not settings.SITE_URL.startswith("https://") or settings.SECURE_PROXY_SSL_HEADER:
        return []
    return [
        CheckWarning(
            "SITE_URL is https, but the hub does not trust the TLS proxy in front of it: no request counts as "
            "secure, so Strict-Transport-Security is never sent.",
            hint="Set BEHIND_TLS_PROXY=true (the proxy must set X-Forwarded-Proto and drop it from clients).",
            id="metacortex.W003",
        )
    ]


@register()
def ssl_redirect_knows_its_proxy(app_configs, **kwargs):
    """gunicorn serves plain http: redirecting to https without trusting the TLS proxy's header sends
    every request, already https at the proxy, to itself again, forever."""
    from django.conf import settings

    if not settings.SECURE_SSL_REDIRECT or settings.SECURE_PROXY_SSL_HEADER:
        return []
    return [
        CheckWarning(
            "SECURE_SSL_REDIRECT is on but the hub does not trust a TLS proxy: behind one, every request "
            "is redirected to itself in a loop.",
            hint="Set BEHIND_TLS_PROXY=true as well (or let the proxy do the redirect instead).",
            id="metacortex.W004",
        )
    ]
