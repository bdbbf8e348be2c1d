"""A provider's error body is quoted in errors, and a receiver may echo the request back: the
webhook's secret path, a header value or an API key must then be masked in every place the error
lands (the job or run, the integration's status, notifications, the audit log, the API and the
logs), and the quote is capped."""

import json
import logging

import pytest
from django.apps import apps
from django.db import models

from connectors.errors import ConfigError, from_status
from connectors.masking import quote_body, secret_texts
from integrations.fields import SecretTextField
from metacortex.logging import RedactSecretsFilter
from tests.fakes.contract import ContractFake, open_connector, seed_owner, step_config
from tests.workflows.helpers import add_output, add_source, make_workflow, query_integration
from workflows.runner import run_workflow

TOKEN = "tok3nS3cretPath9f2c"
HEADER_SECRET = "hdrKey-77a1b2c3d4e5"
SIGNING = "whsec-echo-5e6f7a8b"


class EchoingReceiver(ContractFake):
    """The receiver people write without thinking: 'no route for POST /hooks/<token>', headers and all."""

    ROUTES = [("POST", r"/hooks/(?P<token>[\w-]+)", "refuse")]

    def refuse(self, request, seen, token):
        headers = "; ".join(f"{k}: {v}" for k, v in seen.headers.items())
        echo = f"No route for POST {request.full_path} with headers {headers}. " + "x" * 5000
        return self.json({"error": echo}, status=400)


@pytest.fixture
def receiver(allow_host):
    fake = EchoingReceiver()
    allow_host(fake.host)
    yield fake
    fake.stop()


def _stored_texts() -> str:
    """Every plain text and JSON column of the hub's own tables (encrypted columns excluded)."""
    texts = []
    for model in apps.get_models():
        if model._meta.app_label not in ("integrations", "workflows", "django_q"):
            continue
        columns = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
            and not isinstance(f, SecretTextField)
        ]
        for row in model.objects.values_list(*columns):
            texts.append(repr(row))
    return "\n".join(texts)


def _as_the_hub_logs_it(record) -> str:
    """What the configured handlers write: the redacting filter runs first (werkzeug's records are
    the test receiver's own access log, not the hub's)."""
    RedactSecretsFilter().filter(record)
    return logging.Formatter().format(record)


def _hook(owner, receiver):
    return open_connector(
        owner,
        "webhook",
        name="Echo hook",
        secrets={
            "url": f"{receiver.url}/hooks/{TOKEN}?key={TOKEN}",
            "signing_secret": SIGNING,
            "headers": f"X-Api-Key: {HEADER_SECRET}",
        },
    )


def test_an_echoed_request_is_masked_and_capped_in_the_error(db, receiver):
    owner = seed_owner("webhook")
    hook = _hook(owner, receiver)
    with pytest.raises(ConfigError) as refused:
        hook.send([_card()], step_config("webhook", "output"))
    said = f"{refused.value.message} {refused.value.remediation}"
    assert "The receiver refused the request (HTTP 400)" in said
    assert "No route for POST" in said  # the receiver's words are still there, minus the secrets
    for secret in (TOKEN, HEADER_SECRET, SIGNING):
        assert secret not in said
    assert len(refused.value.message) < 400  # capped, not 5,000 characters


@pytest.mark.usefixtures("catalogue")
def test_a_run_against_an_echoing_receiver_leaks_the_secrets_nowhere(
    owner, owner_client, receiver, feed_server, caplog
):
    from integrations.models import IntegrationType
    from tests.factories import make_integration

    feed_server.serve("/search", json.dumps({"items": [{"id": 1, "title": "One card"}]}), "application/json")
    workflow = make_workflow(owner)
    add_source(workflow, query_integration(owner, feed_server.url("/search")))
    hook = make_integration(
        owner,
        IntegrationType.objects.get(slug="webhook"),
        name="Echo hook",
        secrets={
            "url": f"{receiver.url}/hooks/{TOKEN}?key={TOKEN}",
            "signing_secret": SIGNING,
            "headers": f"X-Api-Key: {HEADER_SECRET}",
        },
    )
    add_output(workflow, hook)
    caplog.set_level(logging.DEBUG)

    execution = run_workflow(workflow)

    assert execution.errors, "the refusal is reported"
    assert "No route for POST" in repr(execution.errors)
    api = owner_client.get(f"/api/v1/integrations/{hook.pk}").content.decode()
    pages = "".join(
        owner_client.get(url).content.decode()
        for url in (f"/integrations/{hook.pk}/", "/integrations/notifications/", f"/workflows/{workflow.pk}/")
    )
    logged = "\n".join(_as_the_hub_logs_it(r) for r in caplog.records if not r.name.startswith("werkzeug"))
    everywhere = "\n".join([_stored_texts(), api, pages, logged])
    for secret in (TOKEN, HEADER_SECRET, SIGNING):
        assert secret not in everywhere


def test_from_status_caps_and_masks_what_it_quotes():
    body = "Forbidden: https://cal.example.com/private/abc123/basic.ics token=sk_live_9 " + "y" * 1000
    error = from_status(403, body=body)
    assert "abc123" not in error.message
    assert "sk_live_9" not in error.message
    assert "https://cal.example.com/…" in error.message
    assert len(error.message) < 300


def test_secret_texts_cover_values_url_pieces_and_header_values():
    hidden = secret_texts(
        {
            "url": "https://hooks.example.com/services/T0A1B2C3D4/B9Z8Y7X6W5/xYz123abc?sig=q9q9q9q9",
            "headers": "X-Key: k3y-value-42",
        },
        {"folder": "INBOX"},
    )
    quoted = quote_body(
        "echo /services/T0A1B2C3D4/B9Z8Y7X6W5/xYz123abc and xYz123abc and sig=q9q9q9q9 and k3y-value-42", hidden
    )
    for piece in ("T0A1B2C3D4", "B9Z8Y7X6W5", "xYz123abc", "q9q9q9q9", "k3y-value-42"):
        assert piece not in quoted
    assert "services" in quote_body("services", hidden)  # plain words stay readable


def _card():
    from connectors.base import OutgoingCard

    return OutgoingCard(title="Hello", markdown="hi", key="k1")


def test_a_query_whose_provider_echoes_the_private_path_keeps_it_out_of_the_run(owner, owner_client, feed_server):
    """The quote from_status makes (HttpClient.request) masks the integration's own URL pieces."""
    from tests.peers.feeds import Reply

    private = f"/search/private-{TOKEN}/results.json"
    echo = f"Access denied to {private} (token {TOKEN})".encode()
    feed_server.sequence(private, [Reply(403, echo, {"Content-Type": "text/plain"})] * 10)
    workflow = make_workflow(owner)
    add_source(workflow, query_integration(owner, feed_server.url(private)))

    execution = run_workflow(workflow)

    said = repr(execution.errors)
    assert "HTTP 403" in said
    assert "Access denied to" in said
    page = owner_client.get(f"/workflows/{workflow.pk}/").content.decode()
    assert TOKEN not in said + page  # (the test connector keeps its URL in plain config, so not all columns)
