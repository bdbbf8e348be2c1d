"""Small builders for test data. Real models, real saves: no mocks of our own code."""

import copy

from django.contrib.auth import get_user_model

from integrations.models import Integration, IntegrationType, Status
from integrations.secrets import store_secrets

PASSWORD = "correct horse battery staple 42"


def make_user(email: str, password: str = PASSWORD, **extra):
    return get_user_model().objects.create_user(username=email, email=email, password=password, **extra)


def make_type(slug: str = "test-feed", **fields) -> IntegrationType:
    defaults = dict(
        display_name=slug.replace("-", " ").title(),
        category="source",
        domain="web",
        description="A test type",
        icon="metacortex.svg",
        auth_kind="url",
        auth_schema=[{"name": "url", "type": "url", "label": "URL", "required": True}],
        supports_scheduling=True,
    )
    defaults.update(fields)
    itype, _ = IntegrationType.objects.update_or_create(slug=slug, defaults=defaults)
    return itype


def make_integration(user, itype=None, *, name="Mine", config=None, secrets=None, status=Status.CONNECTED, **fields):
    itype = itype or make_type()
    integration = Integration.objects.create(
        user=user,
        type=itype,
        name=name,
        config=config or {},
        status=status,
        sync_interval_minutes=fields.pop("sync_interval_minutes", itype.sync_interval_default),
        **fields,
    )
    if secrets is not None:
        store_secrets(integration, secrets)
    return integration


_CATALOGUE_VALUES: list[dict] = []  # every catalogue fixture's values, once a real load() has taken them all


def seed_catalogue():
    """The whole catalogue, as `manage.py load_catalogue` seeds it. The run's first call loads it
    for real (every fixture read, validated and merged: ~0.2 s, for each of ~800 tests); later calls,
    on an empty table, insert the same values at once, which is what load() makes there
    (test_catalogue checks both give the same rows). A table that already holds types gets the real
    load() and its merge."""
    from integrations import catalogue, catalogue_cache

    if _CATALOGUE_VALUES and not IntegrationType.objects.exists():
        values = copy.deepcopy(_CATALOGUE_VALUES)
        IntegrationType.objects.bulk_create([IntegrationType(**v, seed=v) for v in values])
        catalogue_cache.changed()  # what each save, and load() at its end, does
        return
    catalogue.load()
    if not _CATALOGUE_VALUES:
        _CATALOGUE_VALUES.extend(catalogue.read_fixture(path) for path in catalogue.fixture_paths())
