"""The webhook output has one setting for how cards go out: the output step's Send, explained; the
webhook's own "Payload" follows it instead of contradicting it (issue 12: 29)."""

import pytest
from django.urls import reverse

from connectors.base import OutgoingCard
from tests.connectors.test_webhook import SECRET, Receiver
from tests.factories import make_integration
from workflows.models import Workflow, WorkflowOutput
from workflows.steps.output import Deliver

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def receiver(allow_host):
    fake = Receiver()  # the webhook tests' receiver, verifying signatures over real HTTP
    allow_host(fake.host)
    yield fake
    fake.stop()


@pytest.fixture
def hook(owner):
    from integrations.models import IntegrationType

    return make_integration(
        owner, IntegrationType.objects.get(slug="webhook"), name="Hook", secrets={"url": "https://example.com/h"}
    )


def test_the_output_form_asks_once_and_explains(owner_client, owner, hook):
    workflow = Workflow.objects.create(owner=owner, name="Digest")
    page = owner_client.get(reverse("workflows:output_add", args=[workflow.pk]), {"integration": hook.pk})
    html = page.content.decode()
    assert 'name="bundle"' in html
    assert "one chat message, mail or webhook request per run" in html
    assert 'name="payload"' not in html  # no second, contradicting "Payload" choice
    assert "One request per item" not in html


@pytest.mark.parametrize(("bundle", "requests", "kind"), [("digest", 1, "digest"), ("each", 2, "card")])
def test_the_send_choice_decides_the_webhook_requests(owner, receiver, bundle, requests, kind):
    from integrations.models import IntegrationType

    hook = make_integration(
        owner,
        IntegrationType.objects.get(slug="webhook"),
        name="Receiver",
        secrets={"url": f"{receiver.url}/hooks/team", "signing_secret": SECRET},
    )
    workflow = Workflow.objects.create(owner=owner, name="Digest")
    # A step saved before, with the contradicting "Payload": Send decides.
    stale = "cards" if bundle == "digest" else "digest"
    output = WorkflowOutput.objects.create(
        workflow=workflow, integration=hook, config={"payload": stale}, position=1, bundle=bundle
    )
    cards = [OutgoingCard(title=t, markdown=t, html=f"<p>{t}</p>", key=f"k-{t}") for t in ("one", "two")]
    if bundle == "digest":
        cards = [OutgoingCard(title="both", markdown="one, two", html="<p>one, two</p>", key="k-run")]
    Deliver().deliver(output, cards, purpose="test")
    assert len(receiver.accepted) == requests
    assert {body["type"] for body in receiver.accepted} == {kind}
