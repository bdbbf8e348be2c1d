"""A card's link is only ever an http(s) address. A source's record may carry another scheme
(a search API's result, an archive's entry: "javascript:...", "data:text/html,..."); outputs put the
card's link where people click it (Mailchimp's campaign, Discord's embed, a webhook's receiver,
Slack's "Open link"), so such a link is left out, and the record's own http(s) address (data.url)
is used when it has one."""

import json

import pytest

from tests.connectors.test_webhook import SECRET, Receiver
from tests.factories import make_integration
from tests.workflows.helpers import add_output, add_source, make_workflow, query_integration
from workflows.models import Card
from workflows.runner import run_workflow

pytestmark = pytest.mark.usefixtures("catalogue")
BAD = [
    "javascript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    " JavaScript:alert(1)",
    "//evil.example/x",
]


@pytest.fixture
def receiver(allow_host):
    fake = Receiver()
    allow_host(fake.host)
    yield fake
    fake.stop()


def test_a_card_never_links_anything_but_http(owner, feed_server, receiver):
    from integrations.models import IntegrationType

    items = [{"id": n, "title": f"Result {n}", "url": url} for n, url in enumerate(BAD)]
    items.append({"id": 91, "title": "Fine", "url": "https://results.example.com/91"})
    feed_server.serve("/search", json.dumps({"items": items}), content_type="application/json")
    search = query_integration(owner, feed_server.url("/search"))
    hook = make_integration(
        owner, IntegrationType.objects.get(slug="webhook"), name="Receiver",
        secrets={"url": f"{receiver.url}/hooks/team", "signing_secret": SECRET},
    )  # fmt: skip
    workflow = make_workflow(owner)
    add_source(workflow, search, {"q": "x"}, one_card_per_item=True)
    add_output(workflow, hook, bundle="each")

    execution = run_workflow(workflow)

    cards = {card.title: card for card in Card.objects.filter(execution=execution)}
    assert cards["Fine"].data["url"] == "https://results.example.com/91"
    for n in range(len(BAD)):
        assert cards[f"Result {n}"].data["url"] == ""
    sent = {body["card"]["title"]: body["card"] for body in receiver.accepted}
    assert len(sent) == len(items)
    assert sent["Fine"]["url"] == "https://results.example.com/91"
    for title, card in sent.items():
        links = [card["url"], *(entry["url"] for entry in card["data"]["entries"])]
        assert all(link in ("", "https://results.example.com/91") for link in links), (title, links)
        assert "javascript:" not in card["html"].lower() + card["markdown"].lower()
    # the record's own fields still travel as the source gave them: they are data, not a link
    assert sent["Result 0"]["data"]["entries"][0]["data"]["url"] == BAD[0]
