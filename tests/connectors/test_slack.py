"""Slack output against its contract fake over real HTTP: incoming webhooks (type "slack") and
chat.postMessage with a stored bot token (type "slack-bot"), Block Kit layout, the per-channel
pace of one message per second, 429s waited out, and each Slack error told in plain words."""

import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError, TransientError
from connectors.registry import registry
from connectors.slack import mrkdwn
from integrations.models import Credential, Integration, IntegrationType, OAuthApp
from integrations.oauth.revoke import revoke_at_provider
from integrations.sync.context import build_context
from tests.factories import make_integration
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.slack import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, SlackFake, pings

CARDS = [
    OutgoingCard(
        title="GitHub: 3 issues need you",
        markdown="## Today\n- **#12** [Fix login](https://github.com/acme/app/issues/12)\n- *#15* `crash` on start",
        url="https://github.com/acme/app/issues",
        tags=["github", "triage"],
        key="k1",
    ),
    OutgoingCard(title="Weather", markdown="Rain & wind <tonight>", key="k2"),
    OutgoingCard(title="Digest done", markdown="", key="k3"),
]


@pytest.fixture
def owner(db):
    return seed_owner("slack", "slack-bot")


@pytest.fixture
def slack(allow_host, settings):
    fake = SlackFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"slack": f"{fake.url}/api", "slack_hooks": fake.url}
    yield fake
    fake.stop()


def _webhook(owner, slack, path="T0001/B0001/hooksecret1"):
    return open_connector(owner, "slack", secrets={"url": slack.hook_url(path)})


def _bot(owner, token=BOT_TOKEN):
    """A slack-bot integration holding a bot token, as the OAuth flow leaves it (the flow itself
    is proven below, in test_slack_bot_connects_through_the_hubs_oauth_flow_then_posts)."""
    integration = make_integration(owner, IntegrationType.objects.get(slug="slack-bot"), name=f"Bot {token[-6:]}")
    Credential.objects.create(integration=integration, access_token=token, granted_scopes=["chat:write"])
    return registry.get("slack")(build_context(integration, purpose="test"))


def test_both_slack_types_are_available_and_use_the_slack_connector(owner):
    slack_type = IntegrationType.objects.get(slug="slack")
    bot_type = IntegrationType.objects.get(slug="slack-bot")
    assert slack_type.is_available
    assert slack_type.handler == "slack"
    assert bot_type.is_available
    assert bot_type.handler == "slack"
    assert bot_type.auth_kind == "oauth2"
    assert [s["scope"] for s in bot_type.oauth_scopes] == ["chat:write"]
    assert bot_type.oauth_token_url == "https://slack.com/api/oauth.v2.access"


def test_markdown_becomes_slack_mrkdwn():
    assert mrkdwn("**bold** and *italic* and ~~gone~~") == "*bold* and _italic_ and ~gone~"
    assert mrkdwn("[the docs](https://example.com/a?b=1&c=2)") == "<https://example.com/a?b=1&amp;c=2|the docs>"
    assert mrkdwn("# Title\n- one\n* two") == "*Title*\n• one\n• two"
    assert mrkdwn("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert mrkdwn("`**not bold**` and ```\n**code**\n```") == "`**not bold**` and ```\n**code**\n```"


def test_webhook_posts_one_block_kit_message_per_card_one_per_second(owner, slack):
    connector = _webhook(owner, slack)
    delivery = connector.send(CARDS, step_config("slack", "output", channel="#daily-digest"))

    assert delivery.delivered == 3
    assert [m["channel"] for m in slack.messages] == ["daily-digest"] * 3
    first = slack.messages[0]
    assert first["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "GitHub: 3 issues need you"}}
    section = first["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert (
        section["text"]
        == "*Today*\n• *#12* <https://github.com/acme/app/issues/12|Fix login>\n• _#15_ `crash` on start"
    )
    assert first["blocks"][2]["elements"][0]["text"] == (
        "<https://github.com/acme/app/issues|Open link> · `github` `triage`"
    )
    assert first["text"].startswith("GitHub: 3 issues need you")  # the notification fallback
    assert slack.messages[1]["blocks"][1]["text"]["text"] == "Rain &amp; wind &lt;tonight&gt;"

    times = [s.at for s in slack.requests("POST", "/services/")]
    assert times[-1] - times[0] >= 1.9  # the blueprint's burst window: 1 per 1 s
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))


def test_a_429_is_waited_out_never_dropped(owner, slack):
    slack.rate_limit_next("/services/", retry_after=1)
    connector = _webhook(owner, slack)
    assert connector.send(CARDS[:1], step_config("slack", "output")).delivered == 1
    first, second = slack.requests("POST", "/services/")
    assert second.at - first.at >= 1.0
    assert len(slack.messages) == 1


def test_a_revoked_webhook_is_an_auth_error_telling_to_create_a_new_one(owner, slack):
    slack.revoked_hooks.add("T0001/B0001/hooksecret1")
    connector = _webhook(owner, slack)
    with pytest.raises(AuthError, match="revoked or deleted") as exc:
        connector.send(CARDS[:1], step_config("slack", "output"))
    assert "Create a new incoming webhook" in exc.value.remediation


def test_an_archived_channel_is_a_config_error(owner, slack):
    slack.hooks["T0001/B0002/hooksecret2"] = "old-news"
    connector = _webhook(owner, slack, "T0001/B0002/hooksecret2")
    with pytest.raises(ConfigError, match="archived \\(HTTP 410 channel_is_archived\\)") as exc:
        connector.send(CARDS[:1], step_config("slack", "output"))
    assert "Unarchive" in exc.value.remediation


def test_a_slack_outage_is_transient_and_not_replayed(owner, slack):
    slack.fail("POST", "/services/", 500, "rollup_error")
    connector = _webhook(owner, slack)
    with pytest.raises(TransientError, match="HTTP 500 rollup_error"):
        connector.send(CARDS[:1], step_config("slack", "output"))
    assert len(slack.requests("POST")) == 1  # a webhook POST is not repeated blindly


def test_an_address_that_is_not_a_slack_webhook_is_refused_before_sending(owner, slack):
    connector = open_connector(owner, "slack", secrets={"url": "https://example.com/services/T1/B1/x"})
    with pytest.raises(ConfigError, match="not a Slack incoming webhook"):
        connector.send(CARDS[:1], step_config("slack", "output"))
    with pytest.raises(ConfigError):
        connector.test_connection()
    assert slack.log == []


def test_webhook_test_connection_posts_nothing(owner, slack):
    connector = _webhook(owner, slack)
    assert connector.test_connection() == "Incoming webhook T0001/B0001 (address checked; no message was sent)"
    assert "hooksecret1" not in connector.test_connection()  # the secret part is never shown
    assert slack.log == []


def test_bot_token_posts_with_chat_post_message(owner, slack):
    connector = _bot(owner)
    delivery = connector.send(CARDS[:2], step_config("slack-bot", "output", channel="#daily-digest"))

    assert delivery.delivered == 2
    assert delivery.external_ids == ["C0001:1700000000.000001", "C0001:1700000000.000002"]
    seen = slack.requests("POST", "/api/chat.postMessage")[0]
    assert seen.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert seen.json["channel"] == "#daily-digest"
    assert seen.json["blocks"][0]["type"] == "header"
    assert connector.test_connection() == "metacortex in Acme"


def test_bot_errors_say_what_to_do(owner, slack):
    connector = _bot(owner)
    with pytest.raises(ConfigError, match="not_in_channel") as exc:
        connector.send(CARDS[:1], step_config("slack-bot", "output", channel="C0002"))
    assert "/invite" in exc.value.remediation
    with pytest.raises(ConfigError, match="channel_not_found") as exc:
        connector.send(CARDS[:1], step_config("slack-bot", "output", channel="#nope"))
    assert exc.value.field == "channel"

    slack.revoked_tokens.add(BOT_TOKEN)
    with pytest.raises(AuthError, match="token_revoked") as exc:
        connector.send(CARDS[:1], step_config("slack-bot", "output", channel="#daily-digest"))
    assert "Reconnect Slack" in exc.value.remediation


def test_bot_429_with_retry_after_is_waited_out(owner, slack):
    slack.rate_limit_next("/api/chat.postMessage", retry_after=1)
    connector = _bot(owner)
    connector.send(CARDS[:1], step_config("slack-bot", "output", channel="C0001"))
    first, second = slack.requests("POST", "/api/chat.postMessage")
    assert second.at - first.at >= 1.0
    assert len(slack.messages) == 1


def test_a_long_card_is_split_into_sections_slack_accepts(owner, slack):
    text = "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(12))  # ~9,000 characters
    card = OutgoingCard(title="T" * 200, markdown=text, key="long")
    connector = _webhook(owner, slack)
    connector.send([card], step_config("slack", "output"))
    blocks = slack.messages[0]["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks) > 3
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[1:])


def test_slack_bot_connects_through_the_hubs_oauth_flow_then_posts(owner, slack, client, settings, monkeypatch):
    """The hub's generic OAuth flow against Slack's OAuth v2 shapes (HTTP 200 envelopes, token_type
    "bot", comma-separated scopes), then chat.postMessage with the stored token, then revocation."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http on 127.0.0.1
    settings.SITE_URL, settings.OAUTH_REDIRECT_URI = "http://127.0.0.1:8000", ""
    settings.CONNECTOR_API_BASES = {}  # the OAuth app's API base must be enough
    OAuthApp.objects.create(
        integration_type=IntegrationType.objects.get(slug="slack-bot"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{slack.url}/oauth/v2/authorize",
        token_url=f"{slack.url}/api/oauth.v2.access",
        revoke_url=f"{slack.url}/api/auth.revoke",
        api_base_url=f"{slack.url}/api",
    )
    client.force_login(owner)
    assert client.get(reverse("oauth:consent", args=["slack-bot"])).status_code == 200
    start = client.post(reverse("oauth:start", args=["slack-bot"]), {"name": "Acme Slack"})
    assert start.status_code == 302, start.content[:300]
    asked = parse_qs(urlsplit(start["Location"]).query)
    assert asked["scope"] == ["chat:write"]
    assert asked["code_challenge_method"] == ["S256"]
    allowed = requests.get(start["Location"], allow_redirects=False, timeout=10)  # the user clicks "Allow"
    back = urlsplit(allowed.headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302

    integration = Integration.objects.get(type__slug="slack-bot", user=owner)
    assert integration.account_identity == "metacortex in Acme"  # auth.test with the new token
    credential = Credential.objects.get(integration=integration)
    assert credential.access_token.startswith("xoxb-")
    assert credential.granted_scopes == ["chat:write"]

    connector = registry.get("slack")(build_context(integration, purpose="test"))
    delivery = connector.send(CARDS[:1], step_config("slack-bot", "output", channel="#daily-digest"))
    assert delivery.delivered == 1
    assert slack.requests("POST", "/api/chat.postMessage")[-1].headers["Authorization"] == (
        f"Bearer {credential.access_token}"
    )

    assert revoke_at_provider(integration)["revocation"]["revoked"] is True
    assert credential.access_token in slack.revoked_tokens
    with pytest.raises(AuthError, match="token_revoked"):
        connector.send(CARDS[:1], step_config("slack-bot", "output", channel="#daily-digest"))


def test_a_declined_slack_sign_in_connects_nothing(owner, slack, client, settings, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings.SITE_URL, settings.OAUTH_REDIRECT_URI = "http://127.0.0.1:8000", ""
    OAuthApp.objects.create(
        integration_type=IntegrationType.objects.get(slug="slack-bot"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{slack.url}/oauth/v2/authorize",
        token_url=f"{slack.url}/api/oauth.v2.access",
    )
    slack.decline = True
    client.force_login(owner)
    start = client.post(reverse("oauth:start", args=["slack-bot"]), {"name": "Acme Slack"})
    back = urlsplit(requests.get(start["Location"], allow_redirects=False, timeout=10).headers["Location"])
    client.get(f"{back.path}?{back.query}")
    assert not Integration.objects.filter(type__slug="slack-bot").exists()


SYNCED_MENTIONS = OutgoingCard(
    title="New issue <!channel> @here",
    markdown="Reported by someone: <!everyone> please look, @channel too.\n\n- <@U0ADMIN> and <!subteam^S01|ops>",
    tags=["@here"],
    url="https://example.com/issue",
    key="mentions",
)


@pytest.mark.parametrize("how", ["webhook", "bot"])
def test_synced_text_cannot_ping_the_channel(owner, slack, how):
    """A card built from synced content (an issue title, a feed item) that holds Slack's mention
    syntax or a plain @channel must arrive as text: no notification for the whole channel, in the
    blocks or in the fallback `text` that notifications show."""
    if how == "webhook":
        _webhook(owner, slack).send([SYNCED_MENTIONS], step_config("slack", "output"))
    else:
        _bot(owner).send([SYNCED_MENTIONS], step_config("slack-bot", "output", channel="C0001"))
    (message,) = slack.messages
    assert pings(message) == []
    assert "everyone" in message["text"]  # the words are still there
    assert "please look" in message["text"]


def test_a_card_too_long_for_one_slack_message_says_it_was_cut(owner, slack):
    """Slack takes 50 blocks: a card whose text needs more arrives cut, with a last line saying so
    and pointing to the source, instead of silently losing its end."""
    text = "\n\n".join(f"Paragraph {i} " + "word " * 550 for i in range(60))  # ~60 sections of ~2,800
    card = OutgoingCard(title="Huge digest", markdown=text + "\n\nTHE END", url="https://example.com/d", key="huge")
    _webhook(owner, slack).send([card], step_config("slack", "output"))
    blocks = slack.messages[0]["blocks"]
    assert len(blocks) <= 50
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "THE END" not in shown
    assert "cut" in shown.rsplit("\n", 1)[-1]
    assert blocks[-1]["type"] == "context"  # the link to the whole source stays


def test_a_long_paragraph_is_never_cut_inside_a_link_or_an_escaped_character(owner, slack):
    """A paragraph longer than a section (3,000 characters) is cut in pieces; a cut falling inside
    a link (<url|label>) or an escaped character (&amp;) left both halves as visible markup."""
    text = "x" * 2990 + " [the docs](https://example.com/a) & more " + "y " * 100 + "Q & A"
    _webhook(owner, slack).send([OutgoingCard(title="Long", markdown=text, key="cut")], step_config("slack", "output"))
    sections = [b["text"]["text"] for b in slack.messages[0]["blocks"] if b["type"] == "section"]
    assert len(sections) == 2
    assert "<https://example.com/a|the docs>" in sections[1]
    for section in sections:
        assert section.count("<") == section.count(">")
        assert all(part.startswith(("amp;", "lt;", "gt;")) for part in section.split("&")[1:])
    assert "".join(sections).replace(" ", "") == mrkdwn(text).replace(" ", "")  # nothing lost
