"""Reading settings from the environment, strictly.

django-environ's own reader is forgiving in ways that hurt an operator: "DEBUG=maybe" is quietly
false, a float loses every character that is not a digit ("1e3s" is 13, "1,000" is 1.0), a value
starting with "$" is read as the name of another variable (a Django-generated SECRET_KEY can start
with "$"), and a bad number, URL or JSON fails deep inside a library with a traceback that does not
say which variable is wrong. Here every bad value raises ImproperlyConfigured naming the variable
and what it should look like; manage.py prints that one sentence. Values of URLs (which hold
passwords) are never repeated in a message.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import warnings
import zoneinfo

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = {"true", "1", "yes", "on", "y"}
FALSE = {"false", "0", "no", "off", "n"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_EXAMPLES = "sqlite:///db.sqlite3 or postgres://user:password@host:5432/metacortex"
EMAIL_EXAMPLES = "smtp+tls://user:password@smtp.example.com:587, smtps://..., smtp://... or consolemail://"


def _expected(cast) -> str:
    if cast is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if cast is int:
        return "a whole number, such as 30"
    if cast is float:
        return "a number, such as 30 or 0.5 (a point for decimals, no units)"
    if cast is json.loads:
        return "a JSON value"
    return "a valid value"


class Env(environ.Env):
    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        if var in self.ENVIRON:
            value = self.ENVIRON[var]  # as written: no "$OTHER" indirection
        elif default is self.NOTSET:
            raise ImproperlyConfigured(f"Set the {var} environment variable.")
        elif not parse_default or default is None:
            return default
        else:
            value = default
        if cast is None and default is not None and not isinstance(default, environ.NoValue):
            cast = type(default)
        if default is None and value == "":
            return None
        if cast in (bool, int, float, json.loads) and isinstance(value, str) and not value.strip():
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable.")
            return default  # `Q_WORKERS=` left empty: as if unset
        try:
            return self.parse_value(value, cast)
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(f"{var} is not valid JSON ({exc.msg} at character {exc.pos + 1}).") from None
        except (ValueError, TypeError):
            shown = f" (it is {value!r})" if cast in (bool, int, float) else ""
            raise ImproperlyConfigured(f"{var} must be {_expected(cast)}{shown}.") from None

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool and isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE:
                return True
            if word in FALSE:
                return False
            raise ValueError(value)
        if cast is float and isinstance(value, str):
            return float(value.strip())
        if cast is int and isinstance(value, str):
            return int(value.strip())
        return super().parse_value(value, cast)

    def positive_int(self, var, default: int) -> int:
        return self._positive(var, self.int(var, default=default))

    def positive_float(self, var, default: float) -> float:
        return self._positive(var, self.float(var, default=default))

    @staticmethod
    def _positive(var, value):
        if value <= 0:
            raise ImproperlyConfigured(f"{var} must be above 0 (it is {value:g}); leave it unset for its default.")
        return value

    def db_url(self, var="DATABASE_URL", default=environ.Env.NOTSET, engine=None):
        url = self.get_value(var, default=default)
        scheme = urllib.parse.urlsplit(str(url)).scheme
        if engine is None and scheme not in self.DB_SCHEMES:
            known = "" if not scheme else f" ({scheme}:// is not a database this hub knows)"
            raise ImproperlyConfigured(f"{var} is not a database URL{known}. Use {DATABASE_EXAMPLES}.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # django-environ warns of an unknown scheme with the password
                config = self.db_url_config(url, engine=engine)
        except (ValueError, KeyError, TypeError) as exc:
            # The reason only: the URL itself holds the database password.
            reason = str(exc).replace(str(url), "the URL") if url else str(exc)
            raise ImproperlyConfigured(f"{var} is not a database URL ({reason}). Use {DATABASE_EXAMPLES}.") from None
        if not config.get("ENGINE"):
            raise ImproperlyConfigured(f"{var} is not a database URL (no known scheme). Use {DATABASE_EXAMPLES}.")
        return config

    db = db_url

    def email_url(self, var="EMAIL_URL", default=environ.Env.NOTSET, backend=None):
        url = self.get_value(var, default=default)
        try:
            return self.email_url_config(url, backend=backend)
        except (ValueError, KeyError, TypeError, ImproperlyConfigured):
            raise ImproperlyConfigured(f"{var} is not a mail server URL. Use {EMAIL_EXAMPLES}.") from None

    def choice(self, var, choices: tuple[str, ...], default: str) -> str:
        value = self.str(var, default=default).strip()
        if value not in choices:
            listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
            raise ImproperlyConfigured(f"{var} must be {listed} (it is {value!r}).")
        return value

    def site_url(self, var, default: str) -> str:
        value = self.str(var, default=default).strip().rstrip("/")
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                f"{var} must be the hub's public address, such as https://hub.example.com (it is {value!r})."
            )
        return value

    def time_zone(self, var, default: str) -> str:
        value = self.str(var, default=default).strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(
                f"{var} must be a time zone name such as UTC or Europe/Berlin (it is {value!r})."
            ) from None
        return value

    def log_level(self, var, default: str) -> str:
        value = self.str(var, default=default).strip().upper()
        if value not in LOG_LEVELS or not isinstance(logging.getLevelName(value), int):
            raise ImproperlyConfigured(f"{var} must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
        return value


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, as browsers send it in an Origin header."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
