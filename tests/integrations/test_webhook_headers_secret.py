"""A webhook's extra headers often carry the receiver's credentials (Authorization: Bearer ...):
they are stored encrypted with the other secrets, never shown again, and still delivered.
Webhooks saved before that kept them in plaintext config: they keep working, and the migration
(or their next save) moves the headers into the encrypted credentials."""

import importlib
import json

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from connectors.base import OutgoingCard
from connectors.registry import registry
from integrations import catalogue, connections
from integrations.models import ApiToken, Integration, IntegrationType
from integrations.secrets import secrets_for
from integrations.sync.context import build_context
from tests.factories import make_integration
from tests.fakes.contract import ContractFake
from tests.integrations.ui import text

pytestmark = pytest.mark.usefixtures("catalogue")
BEARER = "rcv_live_51Hx-header-token"
HEADERS = f"Authorization: Bearer {BEARER}\nX-Team: blue"
migration = importlib.import_module("integrations.migrations.0006_pause_memory_and_encrypted_webhook_headers")


class Receiver(ContractFake):
    """A receiver that wants a bearer token in the Authorization header."""

    ROUTES = [("POST", r"/hooks/team", "receive")]

    def receive(self, request, seen):
        if request.headers.get("Authorization") != f"Bearer {BEARER}":
            return self.json({"error": "unauthorized"}, status=401)
        return self.json({"ok": True}, status=202)


@pytest.fixture
def receiver(allow_host):
    fake = Receiver()
    allow_host(fake.host)
    yield fake
    fake.stop()


@pytest.fixture
def api(owner):
    _token, plain = ApiToken.issue(owner, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def _deliver(integration) -> None:
    integration = Integration.objects.get(pk=integration.pk)
    connector = registry.get(integration.type.handler)(build_context(integration, purpose="test"))
    try:
        connector.send([OutgoingCard(title="Deploy done", markdown="All green", key="k1")], {})
    finally:
        connector.close()


def _connect(api, receiver) -> Integration:
    body = {"name": "Team hook", "credentials": {"url": f"{receiver.url}/hooks/team", "headers": HEADERS}}
    response = api.post("/api/v1/integrations/webhook/connect", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert BEARER not in response.content.decode()
    return Integration.objects.get(pk=response.json()["integration"]["id"])


def test_headers_are_encrypted_never_shown_and_delivered(api, owner_client, receiver):
    integration = _connect(api, receiver)

    assert "headers" not in integration.config
    assert secrets_for(integration, actor="user")["headers"] == HEADERS
    detail = text(owner_client.get(integration.get_absolute_url()))
    assert "Extra headers" in detail
    edit = owner_client.get(reverse("integrations:edit", args=[integration.pk])).content.decode()
    for page in (detail, edit):
        assert BEARER not in page
        assert "X-Team" not in page

    _deliver(integration)
    seen = receiver.requests("POST")[-1]
    assert seen.headers["Authorization"] == f"Bearer {BEARER}"
    assert seen.headers["X-Team"] == "blue"


def test_the_form_takes_several_header_lines_and_never_shows_them_again(api, owner_client, receiver):
    connect = owner_client.get(reverse("integrations:connect", args=["webhook"])).content.decode()
    assert '<textarea name="headers"' in connect  # one header per line: a password box could not hold them

    integration = _connect(api, receiver)
    edit = owner_client.get(reverse("integrations:edit", args=[integration.pk])).content.decode()
    assert '<textarea name="headers"' in edit
    assert "Stored encrypted. Leave blank to keep the current one." in edit
    assert BEARER not in edit


def test_stored_headers_can_be_removed_but_only_when_asked(api, owner_client, receiver):
    integration = _connect(api, receiver)
    edit_url = reverse("integrations:edit", args=[integration.pk])
    assert 'name="headers__remove"' in owner_client.get(edit_url).content.decode()
    form = {"name": "Team hook", "url": "", "signing_secret": "", "headers": ""}

    assert owner_client.post(edit_url, form).status_code == 302  # blank: kept
    assert secrets_for(integration, actor="user")["headers"] == HEADERS

    assert owner_client.post(edit_url, {**form, "headers__remove": "on"}).status_code == 302
    stored = secrets_for(integration, actor="user")
    assert "headers" not in stored
    assert stored["url"] == f"{receiver.url}/hooks/team"  # the other secrets stay
    assert 'name="headers__remove"' not in owner_client.get(edit_url).content.decode()  # nothing left to remove


def test_an_edit_that_leaves_the_headers_blank_keeps_them(api, receiver):
    integration = _connect(api, receiver)
    body = {"name": "Renamed hook", "credentials": {"headers": ""}}
    response = api.patch(
        f"/api/v1/integrations/{integration.pk}", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert secrets_for(integration, actor="user")["headers"] == HEADERS


def _legacy_hook(owner, receiver) -> Integration:
    """A webhook as saved before the headers became a secret."""
    return make_integration(
        owner,
        IntegrationType.objects.get(slug="webhook"),
        name="Old hook",
        config={"headers": HEADERS, "payload": "cards"},
        secrets={"url": f"{receiver.url}/hooks/team"},
    )


def test_a_hook_saved_before_still_sends_its_headers(owner, receiver):
    _deliver(_legacy_hook(owner, receiver))
    assert receiver.requests("POST")[-1].headers["Authorization"] == f"Bearer {BEARER}"


def test_the_migration_moves_plaintext_headers_into_the_encrypted_credentials(owner, receiver):
    hook = _legacy_hook(owner, receiver)
    itype = hook.type
    for schema in (itype.auth_schema, itype.seed["auth_schema"]):  # the blueprint as it was
        next(s for s in schema if s["name"] == "headers")["type"] = "textarea"
    itype.save()

    migration.encrypt_webhook_headers(apps, None)

    hook.refresh_from_db()
    assert hook.config == {"payload": "cards"}
    assert secrets_for(hook, actor="user") == {"url": f"{receiver.url}/hooks/team", "headers": HEADERS}
    itype.refresh_from_db()
    assert next(s for s in itype.auth_schema if s["name"] == "headers")["type"] == "secret_text"
    assert "webhook" not in catalogue.load(["webhook"]).conflicts  # no admin edit to keep
    _deliver(hook)
    assert receiver.requests("POST")[-1].headers["Authorization"] == f"Bearer {BEARER}"


def test_the_next_save_moves_plaintext_headers_too(owner, receiver):
    hook = _legacy_hook(owner, receiver)
    connections.update(hook, {"name": "Old hook, renamed"})
    hook.refresh_from_db()
    assert "headers" not in hook.config
    assert secrets_for(hook, actor="user")["headers"] == HEADERS
