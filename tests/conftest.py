import os

import pytest
from django.db import connection

from tests.factories import make_integration, make_type, make_user, seed_catalogue

pytest_plugins = [
    "tests.peers.fixtures",
    "tests.peers.feeds",
    "tests.peers.radicale",
    "tests.peers.dovecot",
    "tests.peers.smtp",
    "tests.peers.oauth_server",
]


@pytest.fixture(scope="session", autouse=True)
def _empty_redis_queue():
    """With REDIS_URL (CI), tasks enqueued by earlier runs must not reach this run's workers."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"django_q:{settings.Q_CLUSTER['name']}:*"):
            client.delete(key)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache, whichever the backend: the database cache is emptied
    by each test's rollback, but Redis keeps keys across tests and runs. Only the cache's own keys
    (":1:..." with Django's default prefix and version) go; django-q's queue keys stay."""
    from django.conf import settings

    if settings.REDIS_URL:
        from django.core.cache import cache

        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(cache.make_key("*")):
            client.delete(key)


@pytest.fixture
def owner(db):
    return make_user("owner@example.com")


@pytest.fixture
def other_user(db):
    return make_user("other@example.com")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def other_client(client, other_user):
    client.force_login(other_user)
    return client


@pytest.fixture
def catalogue(db):
    seed_catalogue()


@pytest.fixture
def allow_host(settings):
    """Open the SSRF guard for one test peer: allow_host("127.0.0.1:8081")."""
    settings.SSRF_ALLOWED_HOSTS = list(settings.SSRF_ALLOWED_HOSTS)

    def allow(entry: str):
        settings.SSRF_ALLOWED_HOSTS.append(entry)

    return allow


@pytest.fixture
def fast_backoff(settings):
    settings.SYNC_BACKOFF_BASE = 0.01
    return settings


@pytest.fixture
def subprocess_env(transactional_db):
    """Environment for a child process (worker, command) that must use this test's database."""
    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


__all__ = ["make_integration", "make_type", "make_user"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.4 s a user; the hashing itself is Django's, not what these tests check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The manifest storage needs `collectstatic` first; in-process tests do not need hashed names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
