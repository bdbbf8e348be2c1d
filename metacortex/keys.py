"""Start-up validation of the secrets the hub cannot run without.

The hub refuses to start with a missing, placeholder or malformed key rather than falling back
to something that would leave credentials readable (or unreadable after a restart).
"""

import base64
import binascii

from django.core.exceptions import ImproperlyConfigured

PLACEHOLDERS = {"", "changeme", "change-me", "secret", "insecure", "django-insecure"}
GENERATE_HINT = (
    "Run `make run` once to write a .env with fresh keys, or generate one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
)


def require_secret_key(value: str) -> str:
    value = value.strip()
    if value.lower() in PLACEHOLDERS or value.startswith("django-insecure") or len(value) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or too weak (it needs at least 32 random characters). " + GENERATE_HINT
        )
    return value


def parse_fernet_keys(value: str) -> list[str]:
    """FERNET_KEYS is comma-separated: the first key encrypts, every key decrypts."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "FERNET_KEYS is not set: credentials cannot be stored encrypted, so the hub will not start. "
            + GENERATE_HINT
        )
    for position, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"FERNET_KEYS entry {position} is not a valid Fernet key (32 url-safe base64-encoded "
                f"bytes). " + GENERATE_HINT
            )
    return keys
