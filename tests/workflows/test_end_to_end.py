"""The issue's example, end to end with the real connectors and real peers: new items from an RSS
feed and tomorrow's events from an iCal feed (the local HTTP peer) -> one daily digest to Slack
(its contract fake), to email (SMTP to aiosmtpd) and to a signed webhook whose receiver, written
here, verifies the HMAC-SHA256 signature."""

import datetime
import hashlib
import hmac
import time
import zoneinfo

import pytest
from django.utils import timezone

from integrations.models import IntegrationType, Status
from tests.connectors.helpers import connect
from tests.factories import make_integration
from tests.fakes.contract import ContractFake
from tests.fakes.slack import SlackFake
from tests.workflows.helpers import add_output, add_source, make_workflow
from tests.workflows.test_synced_items import ics, rss
from workflows.models import Card, ExecutionStatus
from workflows.runner import run_workflow

pytestmark = pytest.mark.usefixtures("catalogue")
SECRET = "whsec_digest_42"


class SignedReceiver(ContractFake):
    """A receiver as its developer would write it from the webhook docs: HMAC-SHA256 over
    "<timestamp>.<raw body>", compared in constant time; anything else is a 401."""

    ROUTES = [("POST", r"/hooks/digest", "receive")]

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret
        self.accepted: list[dict] = []

    def receive(self, request, seen):
        timestamp = seen.headers.get("X-Metacortex-Timestamp", "")
        signature = seen.headers.get("X-Metacortex-Signature", "")
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + seen.body, hashlib.sha256)
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 900
        if not (fresh and hmac.compare_digest("sha256=" + expected.hexdigest(), signature)):
            return self.json({"error": "bad signature"}, status=401)
        self.accepted.append(seen.json)
        return self.json({"ok": True}, status=202)


@pytest.fixture
def slack(allow_host, settings):
    fake = SlackFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"slack": f"{fake.url}/api", "slack_hooks": fake.url}
    yield fake
    fake.stop()


@pytest.fixture
def receiver(allow_host):
    fake = SignedReceiver(SECRET)
    allow_host(fake.host)
    yield fake
    fake.stop()


@pytest.fixture
def feeds(feed_server, settings):
    settings.TIME_ZONE = "Europe/Paris"
    tz = zoneinfo.ZoneInfo("Europe/Paris")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)

    def at(hour):
        return datetime.datetime.combine(tomorrow, datetime.time(hour), tzinfo=tz)

    feed_server.serve(
        "/blog.rss",
        rss(("p1", "Django 6.0 released", 2), ("p2", "Tips for HTMX", 3)),
        content_type="application/rss+xml",
    )
    feed_server.serve(
        "/family.ics",
        ics(
            ("dentist", "Dentist", at(9), at(10)),
            ("today", "Not tomorrow", at(9) - datetime.timedelta(days=1), at(10) - datetime.timedelta(days=1)),
        ),
    )
    return feed_server


def build_digest(owner, feeds, slack, smtp_server, receiver, *, to: str, webhook_secret=SECRET):
    blog = connect(owner, "rss", config={"url": feeds.url("/blog.rss")}, name="Tech blog")
    calendar = connect(owner, "ical-feed", secrets={"url": feeds.url("/family.ics")}, name="Family")
    team = make_integration(
        owner, IntegrationType.objects.get(slug="slack"), name="Team Slack", secrets={"url": slack.hook_url()}
    )
    mail = make_integration(
        owner,
        IntegrationType.objects.get(slug="imap"),
        name="My mail",
        config={"host": "imap.invalid", "username": "me@example.com", "smtp_host": "127.0.0.1",
                "smtp_port": smtp_server.port, "smtp_security": "none"},
        secrets={"password": "app-password"},
    )  # fmt: skip
    hook = make_integration(
        owner,
        IntegrationType.objects.get(slug="webhook"),
        name="Signed hook",
        secrets={"url": f"{receiver.url}/hooks/digest", "signing_secret": webhook_secret},
    )
    workflow = make_workflow(owner, name="Daily digest", schedule="0 7 * * *")
    add_source(workflow, blog, {"window": "new"}, tags=["news"])
    add_source(workflow, calendar, {"window": "tomorrow"}, tags=["agenda"])
    add_output(workflow, team, {"channel": "#daily-digest"})
    add_output(workflow, mail, {"mode": "smtp_send", "to": [to], "subject_prefix": "[Hub]"})
    add_output(workflow, hook, {"payload": "digest"})
    return workflow


@pytest.mark.peer
def test_rss_and_tomorrows_events_make_a_daily_digest_for_slack_email_and_a_signed_webhook(
    owner, feeds, slack, smtp_server, receiver, allow_host
):
    allow_host(smtp_server.host)
    workflow = build_digest(owner, feeds, slack, smtp_server, receiver, to="digest-ok@example.com")

    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.SUCCESS, execution.errors
    assert execution.cards_made == 2
    assert execution.cards_sent == 3
    news, agenda = Card.objects.filter(execution=execution).order_by("pk")
    assert [e["title"] for e in news.data["entries"]] == ["Tips for HTMX", "Django 6.0 released"]
    assert [e["title"] for e in agenda.data["entries"]] == ["Dentist"]

    (posted,) = slack.messages
    assert posted["channel"] == "daily-digest"
    assert posted["blocks"][0]["text"]["text"].startswith("Daily digest · ")
    slack_text = " ".join(b["text"]["text"] for b in posted["blocks"] if b["type"] == "section")
    assert "<https://blog.example.com/p2|Tips for HTMX>" in slack_text
    assert "Dentist" in slack_text

    (mail,) = smtp_server.messages_to("digest-ok@example.com")
    message = mail.message
    assert message["Subject"].startswith("[Hub] Daily digest · ")
    html = message.get_body(("html",)).get_content()
    assert '<a href="https://blog.example.com/p1" rel="noopener noreferrer nofollow">Django 6.0 released</a>' in html
    assert "09:00\u201310:00</strong> Dentist" in html
    assert "Not tomorrow" not in html

    (delivery,) = receiver.accepted  # the receiver verified the signature
    assert delivery["type"] == "digest"
    assert delivery["cards"][0]["data"]["cards"][1]["entries"][0]["title"] == "Dentist"


@pytest.mark.peer
def test_a_receiver_refusing_the_signature_pauses_the_workflow_and_the_others_still_deliver(
    owner, feeds, slack, smtp_server, receiver, allow_host
):
    allow_host(smtp_server.host)
    workflow = build_digest(
        owner, feeds, slack, smtp_server, receiver, to="digest-partial@example.com", webhook_secret="wrong"
    )

    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.PARTIAL
    assert receiver.accepted == []
    assert len(slack.messages) == 1
    assert len(smtp_server.messages_to("digest-partial@example.com")) == 1
    (error,) = execution.errors
    assert error["label"] == "Signed hook (Webhook)"
    assert "signing secret" in error["remediation"]
    workflow.refresh_from_db()
    assert workflow.needs_attention
    assert not workflow.is_active
    assert IntegrationType.objects.get(slug="webhook").integrations.get().status == Status.NEEDS_REAUTH


@pytest.fixture
def github_and_discord(allow_host, settings):
    from tests.fakes.discord import DiscordFake
    from tests.fakes.github import GitHubFake, issue

    github, discord = GitHubFake(), DiscordFake()
    allow_host(github.host)
    allow_host(discord.host)
    settings.CONNECTOR_API_BASES = {"github": github.url, "discord": f"{discord.url}/api"}
    github.items = [
        issue("acme/app", n, f"Issue number {n}", updated=f"2026-03-{n:02d}T10:00:00Z", assignee="octocat")
        for n in range(1, 8)
    ]
    yield github, discord
    github.stop()
    discord.stop()


def test_a_live_github_query_sends_one_discord_message_per_issue_at_discords_pace(owner, github_and_discord):
    """Seven cards to a Discord webhook (5 messages per 2 s): the blueprint's burst window spaces
    them out, so Discord never has to answer 429, and nothing is dropped."""
    from tests.fakes.github import CLASSIC_TOKEN

    _, discord = github_and_discord
    github_type, discord_type = IntegrationType.objects.get(slug="github"), IntegrationType.objects.get(slug="discord")
    assert discord_type.burst_limit <= 5
    assert discord_type.burst_window_seconds == 2
    workflow = make_workflow(owner, name="Triage")
    search = make_integration(owner, github_type, name="Work GitHub", secrets={"token": CLASSIC_TOKEN})
    add_source(workflow, search, {"query": "is:open assignee:@me", "limit": 10}, one_card_per_item=True)
    team = make_integration(owner, discord_type, name="Team Discord", secrets={"url": discord.hook_url()})
    add_output(workflow, team, {"use_embeds": False}, bundle="each")  # plain messages: one post per card

    started = time.monotonic()
    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.SUCCESS, execution.errors
    assert execution.cards_made == 7
    assert execution.cards_sent == 7
    assert len(discord.messages) == 7
    assert discord.rate_limited == []  # paced by the hub, not pushed back by Discord
    assert time.monotonic() - started >= 2  # the 6th message waited for the 2-second window
    for n in range(1, 8):
        assert any(f"Issue number {n}" in m["content"] for m in discord.messages)
