"""The lists stay cheap as data grows: My integrations, the gallery, the API tokens page and
GET /api/v1/integrations run the same number of queries for 1 integration as for 50 (with items),
never read the items table, the API's catalogue part is cached until the catalogue changes (an
admin edit, load_catalogue), and a token's last_used_at is written at most every few minutes."""

import datetime as dt
import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import catalogue, counts
from integrations.api.serialize import type_json
from integrations.models import ApiToken, Credential, Integration, IntegrationType, Status, SyncedItem
from integrations.queries import catalogue_for
from tests.factories import make_integration, make_type

pytestmark = pytest.mark.usefixtures("catalogue")

ITEMS = "integrations_synceditem"


def add_integrations(user, count: int, *, start: int = 0, items: int = 3):
    types = list(IntegrationType.objects.filter(is_available=True).order_by("pk")[:5])
    now = timezone.now()
    made = []
    for n in range(start, start + count):
        integration = make_integration(user, types[n % len(types)], name=f"Integration {n:03}")
        if n % 4 == 1:
            Credential.objects.create(integration=integration)
        SyncedItem.objects.bulk_create(
            SyncedItem(
                user=user,
                integration=integration,
                kind="event",
                external_id=f"{n}-{k}",
                content_hash="x",
                source_type=integration.type.slug,
                fetched_at=now,
                deleted_at=now if k == 0 else None,
            )
            for k in range(items)
        )
        made.append(integration)
    counts.recount(Integration.objects.filter(user=user))  # rows written directly, not by a sync
    return made


@pytest.fixture
def token(owner):
    _token, plain = ApiToken.issue(owner, "lists")
    return plain


def queries_of(client, url, **headers):
    client.get(url, **headers)  # warm: the catalogue cache, the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content[:500]
    return response, [q["sql"] for q in captured.captured_queries]


LISTS = [
    ("mine", lambda: reverse("integrations:mine"), {}),
    ("gallery", lambda: reverse("integrations:gallery"), {}),
    ("gallery search", lambda: reverse("integrations:gallery") + "?q=cal&category=source", {}),
    ("tokens", lambda: reverse("integrations:tokens"), {}),
    ("api session", lambda: "/api/v1/integrations", {}),
    ("api token", lambda: "/api/v1/integrations", {"token": True}),
]


@pytest.mark.parametrize(("label", "url", "options"), LISTS, ids=[label for label, _url, _options in LISTS])
def test_a_list_runs_as_many_queries_for_50_integrations_as_for_one(
    client, owner, other_user, token, label, url, options
):
    if options.get("token"):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        client.force_login(owner)
    add_integrations(other_user, 5, start=900)  # someone else's, never read
    add_integrations(owner, 1)
    one, small = queries_of(client, url())
    add_integrations(owner, 49, start=1)
    fifty, large = queries_of(client, url())
    assert len(large) == len(small), "\n".join(large)
    assert not [sql for sql in large if ITEMS in sql]
    if label.startswith("api"):
        assert len(one.json()["integrations"]) == 1
        assert len(fifty.json()["integrations"]) == 50
    if label == "mine":
        assert fifty.content.decode().count('class="card int-row"') == 50


def test_the_api_list_answers_counts_links_and_connected_as_before(client, owner, other_user, token):
    made = add_integrations(owner, 6, items=4)
    add_integrations(other_user, 3, start=100)
    Integration.objects.filter(pk=made[0].pk).update(status=Status.DISCONNECTED)
    body = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/integrations").json()
    mine = {i["id"]: i for i in body["integrations"]}
    assert set(mine) == {i.pk for i in made}
    for integration in made:
        answer = mine[integration.pk]
        assert answer["item_count"] == 3  # four rows, one tombstoned
        assert answer["type"] == integration.type.slug
        assert answer["type_name"] == integration.type.display_name
        assert answer["credentials_stored"] == Credential.objects.filter(integration=integration).exists()
        assert answer["links"] == {
            "self": reverse("api:integration", args=[integration.pk]),
            "sync": reverse("api:sync", args=[integration.pk]),
            "disconnect": reverse("api:disconnect", args=[integration.pk]),
            "page": reverse("integrations:detail", args=[integration.pk]),
        }
    connected = {t["slug"]: t["connected"] for t in body["types"]}
    for itype in IntegrationType.objects.all():
        live = Integration.objects.filter(user=owner, type=itype).exclude(status=Status.DISCONNECTED).count()
        assert connected[itype.slug] == live
    assert [t["slug"] for t in body["types"]] == list(
        IntegrationType.objects.order_by("-is_available", "sort_order", "display_name").values_list("slug", flat=True)
    )


def test_the_api_list_answers_each_integration_as_its_own_endpoint_does(owner, other_user, token):
    """The list reads plain rows and formats dates before encoding; GET /api/v1/integrations/<id>
    encodes a model instance. Both answer the same JSON: dates with and without microseconds, an
    error with its URL masked, a secret setting left out of config, stored credentials."""
    itype = make_type(
        "list-with-secret",
        source_schema=[
            {"name": "api_key", "type": "secret", "label": "Key"},
            {"name": "folder", "type": "text", "label": "Folder"},
        ],
    )
    synced = dt.datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=dt.UTC)
    plain = make_integration(owner, itype, name="Plain", last_synced_at=synced.replace(microsecond=0))
    busy = make_integration(
        owner,
        itype,
        name="Busy",
        config={"api_key": "s3cret-value", "folder": "Boîte ✓", "depth": 1.5, "tags": ["a", None]},
        status=Status.NEEDS_REAUTH,
        status_detail="Sign in again at https://user:hunter2@example.com/login",
        last_error="GET https://example.com/feed?token=abc123 answered 401",
        last_synced_at=synced,
        consecutive_failures=3,
    )
    Credential.objects.create(integration=busy)
    make_integration(other_user, itype, name="Theirs")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api.get("/api/v1/integrations")
    listed = {i["id"]: i for i in response.json()["integrations"]}
    assert set(listed) == {plain.pk, busy.pk}
    for integration in (plain, busy):
        assert listed[integration.pk] == api.get(f"/api/v1/integrations/{integration.pk}").json()["integration"]
    assert listed[busy.pk]["config"] == {"folder": "Boîte ✓", "depth": 1.5, "tags": ["a", None]}
    assert listed[busy.pk]["last_synced_at"] == "2026-03-04T05:06:07.891Z"
    assert listed[plain.pk]["last_synced_at"] == "2026-03-04T05:06:07Z"
    assert listed[busy.pk]["credentials_stored"] is True
    assert listed[plain.pk]["credentials_stored"] is False
    for secret in (b"s3cret-value", b"hunter2", b"abc123"):
        assert secret not in response.content


def test_the_api_list_is_never_stale_though_each_integrations_text_is_kept(owner, token):
    """The list keeps each integration's JSON text by the row it was made from: whatever changes
    (a rename without save(), a sync's counts and status, a credential, its type renamed in the
    admin) is in the next answer, and an unchanged account answers the same bytes."""
    from integrations.api import listing

    itype = make_type("list-kept-texts")
    kept = make_integration(owner, itype, name="Kept")
    changing = make_integration(owner, itype, name="Before")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def listed():
        return {i["id"]: i for i in api.get("/api/v1/integrations").json()["integrations"]}

    first = api.get("/api/v1/integrations").content
    assert api.get("/api/v1/integrations").content == first
    assert any(key[0][0] == kept.pk for key in listing._KEPT.texts)  # kept by the process

    Integration.objects.filter(pk=changing.pk).update(name="After", item_count=42, status=Status.ERROR)
    Credential.objects.create(integration=changing)
    now = listed()
    assert (now[changing.pk]["name"], now[changing.pk]["item_count"], now[changing.pk]["status"]) == (
        "After", 42, Status.ERROR,
    )  # fmt: skip
    assert now[changing.pk]["credentials_stored"] is True
    assert (
        now[kept.pk]
        == json.loads(first)["integrations"][[i["name"] for i in json.loads(first)["integrations"]].index("Kept")]
    )

    itype.display_name = "Renamed in the admin"
    itype.save()
    assert {i["type_name"] for i in listed().values()} == {"Renamed in the admin"}
    for integration in (kept, changing):
        assert listed()[integration.pk] == api.get(f"/api/v1/integrations/{integration.pk}").json()["integration"]


def test_the_api_lists_each_type_as_its_json_with_the_users_count(owner, token):
    """The catalogue's share is cached as encoded text around each type's count: it decodes to
    type_json of every type, in the catalogue's order, with this user's count."""
    ical = IntegrationType.objects.get(slug="ical-feed")
    make_integration(owner, ical, name="One")
    make_integration(owner, ical, name="Two")
    body = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/integrations").json()
    expected = []
    for itype in catalogue_for(None):
        data = json.loads(json.dumps(type_json(itype), cls=DjangoJSONEncoder))
        data["connected"] = 2 if itype.slug == "ical-feed" else 0
        expected.append(data)
    assert body["types"] == expected
    assert list(body["types"][0]) == list(type_json(ical))  # the keys in their usual order


def test_the_gallery_counts_only_this_users_connections(client, owner, other_user):
    ical = IntegrationType.objects.get(slug="ical-feed")
    make_integration(owner, ical, name="One")
    make_integration(owner, ical, name="Two", status=Status.DISCONNECTED)
    make_integration(other_user, ical, name="Theirs")
    client.force_login(owner)
    types = {t.slug: t for t in client.get(reverse("integrations:gallery")).context["types"]}
    assert types["ical-feed"].connected == 1
    assert types["caldav"].connected == 0


CACHES = {
    "locmem": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sc-lists"}},
    "database": {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "metacortex_cache"}},
    "redis": {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/4",
            "KEY_PREFIX": "sc-lists-test",
        }
    },
}


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(CACHES["redis"]["default"]["LOCATION"], socket_timeout=2).ping())
    except Exception:  # noqa: BLE001 - any failure means no Redis here
        return False


@pytest.fixture(params=sorted(CACHES))
def cache_backend(request, settings):
    if request.param == "redis" and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CACHES = CACHES[request.param]
    from django.core.cache import cache

    cache.clear()
    yield request.param
    cache.clear()


def names_in(client):
    return {t["slug"]: t["name"] for t in client.get("/api/v1/integrations").json()["types"]}


def test_the_catalogue_part_is_cached_until_an_admin_edit_or_load_catalogue(
    cache_backend, owner, token, django_capture_on_commit_callbacks
):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert names_in(api)["ical-feed"] == "iCal Feed"
    with CaptureQueriesContext(connection) as captured:
        assert names_in(api)["ical-feed"] == "iCal Feed"
    assert not [q for q in captured.captured_queries if "integrations_integrationtype" in q["sql"]]

    # A write that sends no signal is not seen: the answer really comes from the cache.
    IntegrationType.objects.filter(slug="ical-feed").update(display_name="Quietly renamed")
    assert names_in(api)["ical-feed"] == "iCal Feed"

    # load_catalogue puts the fixture back and invalidates.
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.load(force=True)
    assert names_in(api)["ical-feed"] == "iCal Feed"
    IntegrationType.objects.filter(slug="ical-feed").update(display_name="Quietly renamed")
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.load(["ical-feed"], force=True)
    assert names_in(api)["ical-feed"] == "iCal Feed"

    # An admin edit (ModelAdmin.save_model saves the instance) shows at once, and a deleted type goes.
    ical = IntegrationType.objects.get(slug="ical-feed")
    ical.display_name = "Calendar feed (edited)"
    with django_capture_on_commit_callbacks(execute=True):
        ical.save()
    assert names_in(api)["ical-feed"] == "Calendar feed (edited)"
    unused = IntegrationType.objects.get(slug="caldav")
    with django_capture_on_commit_callbacks(execute=True):
        unused.delete()
    assert "caldav" not in names_in(api)


def test_a_token_records_its_use_at_most_every_few_minutes(owner, token, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 300
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    stored = ApiToken.objects.get(user=owner)
    assert stored.last_used_at is None
    api.get("/api/v1/integrations")
    first = ApiToken.objects.get(pk=stored.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as captured:
        assert api.get("/api/v1/integrations").status_code == 200
    assert not [q for q in captured.captured_queries if q["sql"].startswith("UPDATE") and "apitoken" in q["sql"]]
    assert ApiToken.objects.get(pk=stored.pk).last_used_at == first

    earlier = timezone.now() - dt.timedelta(seconds=301)
    ApiToken.objects.filter(pk=stored.pk).update(last_used_at=earlier)
    api.get("/api/v1/integrations")
    assert ApiToken.objects.get(pk=stored.pk).last_used_at > earlier


def test_a_stale_token_is_touched_once_even_if_two_requests_saw_it_stale(owner, token, settings):
    settings.API_TOKEN_TOUCH_SECONDS = 300
    earlier = timezone.now() - dt.timedelta(hours=1)
    ApiToken.objects.update(last_used_at=earlier)
    seen_by_a, seen_by_b = ApiToken.objects.get(user=owner), ApiToken.objects.get(user=owner)
    seen_by_a.touch()
    touched = ApiToken.objects.get(pk=seen_by_a.pk).last_used_at
    with CaptureQueriesContext(connection) as captured:
        seen_by_b.touch()  # its copy says stale, the row does not: the conditional UPDATE changes nothing
    assert len(captured.captured_queries) == 1
    assert ApiToken.objects.get(pk=seen_by_a.pk).last_used_at == touched


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN plans are checked on PostgreSQL (CI)")
def test_the_api_list_reads_the_users_integrations_through_an_index(owner, other_user):
    from integrations.api import listing

    add_integrations(owner, 3)
    add_integrations(other_user, 3, start=50)
    request = type("Request", (), {"user": owner})()
    queries = {
        "api list": listing.instances(request.user),
        "catalogue": catalogue_for(owner),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: show what an index can do
        for label, queryset in queries.items():
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert ITEMS not in plan, (label, plan)
            assert "Seq Scan on integrations_integration " not in plan + " ", (label, plan)
            if label == "api list":
                assert "integrations_integration_user" in plan or "Index" in plan, plan
