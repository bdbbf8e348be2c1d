"""A tiny django-oauth-toolkit project: the real OAuth 2.0 authorization server of the test suite.

It runs in its own process (`manage.py runserver 127.0.0.1:PORT --noreload`, started by
tests/peers/oauth_server.py) with its own SQLite database. PKCE is required and refresh tokens
rotate on every use (a rotated-out refresh token is refused with invalid_grant), like Microsoft
and Spotify do. Its scopes are every scope the hub's catalogue asks for, so each provider type
(Google, Microsoft, Spotify) can be pointed at it for the token exchange.
"""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
CATALOGUE = BASE_DIR.parent.parent / "integrations" / "fixtures" / "catalogue"


def _catalogue_scopes() -> dict:
    scopes = {"read": "Read your profile"}
    for path in sorted(CATALOGUE.glob("*.json")):
        for entry in json.loads(path.read_text()):
            for scope in entry["fields"].get("oauth_scopes") or []:
                scopes.setdefault(scope["scope"], scope["purpose"])
    return scopes


SECRET_KEY = "test-oauth-server-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("OAUTH_SERVER_DB", str(BASE_DIR / "oauth-server.sqlite3")),
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
LOGIN_URL = "/admin/login/"
# Cookies are not kept apart by port: on 127.0.0.1 the hub's and this server's "sessionid" would
# overwrite each other in a browser. Real providers live on other hosts; here, other names.
SESSION_COOKIE_NAME = "authz_sessionid"
CSRF_COOKIE_NAME = "authz_csrftoken"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins; test peer only

OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("OAUTH_SERVER_TOKEN_SECONDS", "3600")),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 120,
    "SCOPES": _catalogue_scopes(),
    "DEFAULT_SCOPES": ["read"],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
