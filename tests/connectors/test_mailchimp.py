"""Mailchimp against its contract fake over real HTTP: a campaign created, filled and left as a
draft, scheduled on a quarter hour or sent; Mailchimp's problem documents turned into the field
to fix; half-made drafts removed when a later step fails."""

import datetime

import pytest

from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError, TransientError
from connectors.mailchimp import next_quarter_hour
from integrations.models import IntegrationType
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.mailchimp import API_KEY, MailchimpFake, merge_tags

CARDS = [
    OutgoingCard(
        title="Café opens",
        markdown="New **café** by the river.",
        html="<p>New <strong>café</strong> by the river.</p>",
        url="https://example.com/cafe?a=1&b=2",
        key="k1",
    ),
    OutgoingCard(title="Bridge <closed>", markdown="Until April.\n\nExpect delays.", key="k2"),
]
STEP = {"list_id": "a1b2c3d4e5", "from_name": "Acme News", "reply_to": "news@example.com", "subject": "This week"}


@pytest.fixture
def owner(db):
    return seed_owner("mailchimp")


@pytest.fixture
def mailchimp(allow_host, settings):
    fake = MailchimpFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"mailchimp": fake.base}
    yield fake
    fake.stop()


def _chimp(owner, key=API_KEY, **config):
    return open_connector(owner, "mailchimp", secrets={"api_key": key}, config=config)


def _step(**values):
    return step_config("mailchimp", "output", **{**STEP, **values})


def test_mailchimp_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="mailchimp")
    assert itype.is_available
    assert itype.handler == "mailchimp"


def test_a_draft_campaign_is_created_and_filled(owner, mailchimp):
    delivery = _chimp(owner).send(CARDS, _step())

    (campaign,) = mailchimp.campaigns.values()
    assert delivery.delivered == 2
    assert delivery.external_ids == [campaign["id"]]
    assert "Draft campaign saved" in delivery.detail
    assert campaign["status"] == "save"
    assert campaign["recipients"] == {"list_id": "a1b2c3d4e5"}
    settings = campaign["settings"]
    assert (settings["subject_line"], settings["from_name"], settings["reply_to"]) == (
        "This week",
        "Acme News",
        "news@example.com",
    )
    assert settings["title"].startswith("This week (")
    body = campaign["html"]
    assert '<a href="https://example.com/cafe?a=1&amp;b=2">Café opens</a>' in body
    assert "<p>New <strong>café</strong> by the river.</p>" in body  # the card's sanitized HTML
    assert "Bridge &lt;closed&gt;" in body
    assert "<p>Until April.</p><p>Expect delays.</p>" in body
    assert "*|UNSUB|*" in body  # the unsubscribe link Mailchimp requires
    create = mailchimp.requests("POST", r"/3\.0/campaigns$")[0]
    assert create.headers["Authorization"].startswith("Basic ")


def test_send_now_sends_the_campaign(owner, mailchimp):
    delivery = _chimp(owner).send(CARDS, _step(send_mode="send_now"))
    assert delivery.detail == "Campaign sent."
    assert next(iter(mailchimp.campaigns.values()))["status"] == "sent"
    assert [s.path.rsplit("/", 2)[-2:] for s in mailchimp.log][-1] == ["actions", "send"]


def test_schedule_picks_the_next_quarter_hour(owner, mailchimp):
    delivery = _chimp(owner).send(CARDS, _step(send_mode="schedule", schedule_time="09:15"))
    campaign = next(iter(mailchimp.campaigns.values()))
    assert campaign["status"] == "schedule"
    when = datetime.datetime.fromisoformat(campaign["send_time"].replace("Z", "+00:00"))
    assert (when.hour, when.minute) == (9, 15)
    assert when > datetime.datetime.now(datetime.UTC)
    assert delivery.detail.startswith("Campaign scheduled for ")


def test_next_quarter_hour():
    now = datetime.datetime(2026, 3, 2, 9, 12, tzinfo=datetime.UTC)
    assert next_quarter_hour("09:15", now) == datetime.datetime(2026, 3, 3, 9, 15, tzinfo=datetime.UTC)  # < 5 min
    assert next_quarter_hour("9:30", now) == datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)
    assert next_quarter_hour("08:00", now) == datetime.datetime(2026, 3, 3, 8, 0, tzinfo=datetime.UTC)
    for bad in ("09:10", "25:00", "soon", ""):
        with pytest.raises(ConfigError, match="quarter hour") as exc:
            next_quarter_hour(bad, now)
        assert exc.value.field == "schedule_time"


def test_a_wrong_audience_names_the_field_to_fix(owner, mailchimp):
    with pytest.raises(ConfigError, match=r"recipients\.list_id: Invalid audience ID") as exc:
        _chimp(owner).send(CARDS, _step(list_id="nope"))
    assert exc.value.field == "list_id"
    assert mailchimp.campaigns == {}


def test_a_failed_schedule_deletes_the_half_made_draft(owner, mailchimp):
    mailchimp.paid_plan = False
    with pytest.raises(ConfigError, match="Scheduling campaigns is available on paid plans"):
        _chimp(owner).send(CARDS, _step(send_mode="schedule", schedule_time="10:00"))
    assert mailchimp.campaigns == {}  # no orphan draft left for a retry to duplicate
    assert mailchimp.requests("DELETE")


def test_a_refused_key_is_an_auth_error(owner, mailchimp):
    with pytest.raises(AuthError, match="API Key Invalid") as exc:
        _chimp(owner, key="ffffffffffffffffffffffffffffffff-us21").send(CARDS, _step())
    assert "-usNN" in exc.value.remediation


def test_a_key_without_its_data_centre_is_refused_before_any_request(owner, mailchimp):
    with pytest.raises(ConfigError, match="ends with its data centre") as exc:
        _chimp(owner, key="0123456789abcdef").send(CARDS, _step())
    assert exc.value.field == "api_key"
    assert mailchimp.log == []


def test_the_data_centre_comes_from_the_key(owner, settings):
    settings.CONNECTOR_API_BASES = {}
    assert _chimp(owner, key="0123456789abcdef-us21").base == "https://us21.api.mailchimp.com/3.0"
    assert _chimp(owner, key="0123456789abcdef-eu3").base == "https://eu3.api.mailchimp.com/3.0"


def test_a_429_is_waited_out(owner, mailchimp):
    mailchimp.fail(
        "POST", r"/3\.0/campaigns$", 429, {"title": "Too Many Requests", "status": 429}, {"Retry-After": "1"}
    )
    _chimp(owner).send(CARDS, _step())
    first, second = mailchimp.requests("POST", r"/3\.0/campaigns$")
    assert second.at - first.at >= 1.0
    assert len(mailchimp.campaigns) == 1


def test_a_5xx_on_create_is_not_replayed_and_is_transient(owner, mailchimp):
    mailchimp.fail("POST", r"/3\.0/campaigns$", 503, {"title": "Service Unavailable", "status": 503})
    with pytest.raises(TransientError, match="HTTP 503"):
        _chimp(owner).send(CARDS, _step())
    assert len(mailchimp.requests("POST")) == 1  # a POST that may have created a campaign is not repeated


def test_test_connection_checks_the_key_and_the_audience(owner, mailchimp):
    assert _chimp(owner).test_connection() == "Mailchimp us21 (2 audiences)"
    assert _chimp(owner, list_id="f6g7h8i9j0").test_connection() == "Mailchimp us21, audience Customers"
    with pytest.raises(ConfigError, match="Resource Not Found"):
        _chimp(owner, list_id="missing").test_connection()
    assert mailchimp.campaigns == {}


def test_merge_tags_in_synced_content_are_sent_as_text(owner, mailchimp):
    """Cards carry text from other services (a feed item, an issue title). Mailchimp evaluates every
    *|TAG|* in a campaign when it sends: a title "*|EMAIL|*" would show each subscriber's address,
    and *|FEEDBLOCK:url|* would pull a stranger's feed into the mail. Only the hub's own footer
    tags remain; the card's text still reads the same."""
    card = OutgoingCard(
        title="Hello *|EMAIL|*",
        markdown="Read *|FEEDBLOCK:https://evil.example/feed|* now",
        html="<p>*|IF:MERGE1=x|*secret*|END:IF|*</p>",
        url="https://example.com/?q=*|LIST:ADDRESS|*",
        key="tags",
    )
    plain = OutgoingCard(title="Plain", markdown="Read *|FEEDBLOCK:https://evil.example/feed|* now", key="plain")
    _chimp(owner).send([card, plain], _step())

    (campaign,) = mailchimp.campaigns.values()
    assert sorted(merge_tags(campaign["html"])) == ["LIST:COMPANY", "UNSUB", "UPDATE_PROFILE"]
    assert "Hello *&#124;EMAIL&#124;*" in campaign["html"]
