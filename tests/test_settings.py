"""Start-up refuses missing or malformed keys with a clear message, never falling back."""

import base64
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from metacortex.keys import parse_fernet_keys, require_secret_key

GOOD_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
GOOD_SECRET = "s" * 50


def test_fernet_keys_first_encrypts_all_decrypt_order_kept():
    other = base64.urlsafe_b64encode(b"o" * 32).decode()
    assert parse_fernet_keys(f" {GOOD_KEY} , {other} ") == [GOOD_KEY, other]


@pytest.mark.parametrize("value", ["", " , ", "not-a-key", base64.urlsafe_b64encode(b"short").decode()])
def test_bad_fernet_keys_are_refused_with_instructions(value):
    with pytest.raises(ImproperlyConfigured) as exc:
        parse_fernet_keys(value)
    assert "FERNET_KEYS" in str(exc.value)
    assert "generate" in str(exc.value).lower() or "make run" in str(exc.value)


@pytest.mark.parametrize("value", ["", "changeme", "django-insecure-abc", "x" * 20])
def test_weak_secret_keys_are_refused(value):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        require_secret_key(value)


def _start(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FERNET_KEYS", "DATABASE_URL")}
    env.update(env_overrides)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'start.sqlite3'}"
    # Run from a directory without a .env so only these variables count.
    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'metacortex.settings'); django.setup()"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {os.getcwd()!r}); " + code],
        cwd=tmp_path,
        env={**env, "METACORTEX_ENV_FILE": str(tmp_path / "missing.env")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_without_fernet_keys_fails_clearly(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "FERNET_KEYS is not set" in result.stderr


def test_production_start_with_malformed_fernet_key_fails_clearly(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "FERNET_KEYS": "hunter2", "DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "FERNET_KEYS entry 1 is not a valid Fernet key" in result.stderr


def test_start_with_real_keys_succeeds(tmp_path):
    result = _start({"SECRET_KEY": GOOD_SECRET, "FERNET_KEYS": GOOD_KEY, "DEBUG": "false"}, tmp_path)
    assert result.returncode == 0, result.stderr
