"""Discord output against its contract fake over real HTTP: embeds within Discord's limits, the
5-per-2-seconds pace, 429s waited out (Retry-After header or only the body's retry_after), and
deleted or regenerated webhooks reported as credentials to replace."""

import datetime

import pytest

from connectors.base import OutgoingCard
from connectors.discord import pack
from connectors.errors import AuthError, ConfigError
from integrations.models import IntegrationType
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.discord import WEBHOOK_ID, DiscordFake


@pytest.fixture
def owner(db):
    return seed_owner("discord")


@pytest.fixture
def discord(allow_host, settings):
    fake = DiscordFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"discord": f"{fake.url}/api"}
    yield fake
    fake.stop()


def _hook(owner, discord, **kwargs):
    return open_connector(owner, "discord", secrets={"url": discord.hook_url(**kwargs)})


def _cards(n, text="Short text with **bold** and a [link](https://example.com)."):
    return [
        OutgoingCard(title=f"Item {i}", markdown=text, url=f"https://example.com/{i}", key=f"k{i}") for i in range(n)
    ]


def test_discord_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="discord")
    assert itype.is_available
    assert itype.handler == "discord"
    # Discord allows 5 per 2 s; the blueprint keeps one in hand, because requests reach Discord a
    # few milliseconds apart from when the hub's window counted them.
    assert (itype.burst_limit, itype.burst_window_seconds) == (4, 2)


def test_cards_become_embeds_in_one_message(owner, discord):
    due = datetime.datetime(2026, 5, 1, 9, 30, tzinfo=datetime.UTC)
    cards = [
        OutgoingCard(
            title="Release 2.0", markdown="Ships **today**", url="https://example.com/r", tags=["release"], due=due
        ),
        OutgoingCard(title="@everyone look", markdown="no ping please", key="x"),
    ]
    delivery = _hook(owner, discord).send(cards, step_config("discord", "output", username="Hub bot"))

    assert delivery.delivered == 2
    assert delivery.external_ids == [discord.messages[0]["id"]]
    message = discord.messages[0]
    assert message["username"] == "Hub bot"
    assert message["allowed_mentions"] == {"parse": []}  # a card can never ping @everyone
    first, second = message["embeds"]
    assert first["title"] == "Release 2.0"
    assert first["description"] == "Ships **today**"
    assert first["url"] == "https://example.com/r"
    assert first["timestamp"] == "2026-05-01T09:30:00+00:00"
    assert {"name": "Tags", "value": "release", "inline": True} in first["fields"]
    assert {"name": "Due", "value": f"<t:{int(due.timestamp())}:f>", "inline": True} in first["fields"]
    assert second["title"] == "@everyone look"
    assert discord.requests("POST")[0].args == {"wait": "true"}


def test_many_and_long_cards_are_split_within_discord_limits(owner, discord):
    cards = _cards(12) + _cards(3, text="x" * 5000)
    _hook(owner, discord).send(cards, step_config("discord", "output"))
    # 12 short ones: 10 + 2 embeds; three long ones (cut to 4,096) cannot share 6,000 characters.
    assert [len(m["embeds"]) for m in discord.messages] == [10, 3, 1, 1]
    for message in discord.messages:
        assert len(message["embeds"]) <= 10
        assert sum(len(e.get("title", "")) + len(e.get("description", "")) for e in message["embeds"]) <= 6000
    assert sum(len(m["embeds"]) for m in discord.messages) == 15
    assert all(len(e.get("description", "")) <= 4096 for m in discord.messages for e in m["embeds"])


def test_pack_respects_the_count_and_size_limits():
    small = {"title": "t", "description": "d" * 10}
    big = {"title": "t", "description": "d" * 4000}
    assert [len(g) for g in pack([small] * 23)] == [10, 10, 3]
    assert [len(g) for g in pack([big, small, big, big])] == [2, 1, 1]


def test_plain_messages_are_paced_under_five_per_two_seconds_without_a_single_429(owner, discord):
    connector = _hook(owner, discord)
    connector.send(_cards(7), step_config("discord", "output", use_embeds=False))

    times = [s.at for s in discord.requests("POST")]
    assert len(discord.messages) == 7
    assert discord.rate_limited == []  # the hub kept to the pace; Discord never had to say so
    assert times[4] - times[0] >= 1.9  # the fifth waited for the first to leave the 2 s window
    assert discord.messages[0]["content"] == (
        "**Item 0**\nShort text with **bold** and a [link](https://example.com).\n<https://example.com/0>"
    )


def test_a_429_with_retry_after_is_waited_out(owner, discord):
    opens_at = discord.exhaust_bucket()  # another poster used the webhook's whole bucket just now
    _hook(owner, discord).send(_cards(1), step_config("discord", "output"))
    _first, second = discord.requests("POST")
    assert len(discord.messages) == 1
    assert second.at >= opens_at - 0.05  # Retry-After: 2, waited before the one retry


def test_a_429_with_only_the_body_retry_after_is_still_honoured(owner, discord, fast_backoff):
    discord.send_retry_after_header = False
    opens_at = discord.exhaust_bucket()
    _hook(owner, discord).send(_cards(1), step_config("discord", "output"))
    posts = discord.requests("POST")
    assert len(discord.messages) == 1
    assert len(posts) >= 2
    assert posts[-1].at >= opens_at - 0.05  # it slept the body's retry_after instead of giving up


def test_a_deleted_webhook_is_an_auth_error(owner, discord):
    connector = _hook(owner, discord, hook_id="999")
    with pytest.raises(AuthError, match="deleted") as exc:
        connector.send(_cards(1), step_config("discord", "output"))
    assert "Create a new webhook" in exc.value.remediation
    with pytest.raises(AuthError):
        connector.test_connection()


def test_a_regenerated_token_is_an_auth_error(owner, discord):
    with pytest.raises(AuthError, match="Invalid Webhook Token"):
        _hook(owner, discord, token="old-token").send(_cards(1), step_config("discord", "output"))


def test_a_validation_error_names_the_field(owner, discord):
    discord.fail(
        "POST",
        "/webhooks/",
        400,
        {
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {
                "embeds": {
                    "0": {"url": {"_errors": [{"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}]}}
                }
            },
        },
    )
    with pytest.raises(ConfigError, match=r"embeds\.0\.url: Not a well formed URL"):
        _hook(owner, discord).send(_cards(1), step_config("discord", "output"))


def test_test_connection_reads_the_webhook_without_posting(owner, discord):
    assert _hook(owner, discord).test_connection() == "Hub digest (channel 998877; no message was sent)"
    assert discord.requests("POST") == []
    assert discord.requests("GET")[0].path.endswith(f"/webhooks/{WEBHOOK_ID}/tok-en_123")


def test_addresses_that_are_not_discord_webhooks_are_refused(owner, discord):
    for url in ("https://example.com/api/webhooks/1/abc", "https://discord.com/channels/1/2"):
        connector = open_connector(owner, "discord", secrets={"url": url}, name=url)
        with pytest.raises(ConfigError, match="not a Discord webhook"):
            connector.send(_cards(1), step_config("discord", "output"))
    assert discord.log == []


@pytest.mark.parametrize("use_embeds", [True, False])
def test_a_card_too_long_for_discord_arrives_cut_with_a_note(owner, discord, use_embeds):
    """A feed item with a title of thousands of characters and a long text: Discord takes 2,000
    characters of content (4,096 of embed description, 256 of title), so the message is cut, says
    so at its end, and is still delivered, rather than refused as "a bug in the hub's layout"."""
    card = OutgoingCard(title="T" * 2500, markdown="word " * 2000 + "THE END", url="https://example.com/x", key="k")
    delivery = _hook(owner, discord).send([card], step_config("discord", "output", use_embeds=use_embeds))
    assert delivery.delivered == 1
    (message,) = discord.messages
    shown = message["embeds"][0]["description"] if use_embeds else message["content"]
    assert "THE END" not in shown
    assert "cut" in shown.rsplit("…", 1)[-1]
    if not use_embeds:
        assert shown.endswith("<https://example.com/x>")  # the way to the whole text stays


@pytest.mark.parametrize("name", ["Discord digest", "clyde"])
def test_a_display_name_discord_refuses_names_the_setting_before_posting(owner, discord, name):
    """Discord refuses a webhook name containing "discord" or "clyde". Every delivery failed with
    "likely a bug in the hub's message layout"; the setting to change is now named, before any post."""
    with pytest.raises(ConfigError, match="cannot contain") as refused:
        _hook(owner, discord).send(_cards(1), step_config("discord", "output", username=name))
    assert refused.value.field == "username"
    assert "bug" not in refused.value.remediation
    assert discord.requests("POST") == []


def test_a_due_time_without_a_zone_is_the_persons_hour(owner, discord):
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    card = OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30), key="d")
    _hook(owner, discord).send([card], step_config("discord", "output"))
    (embed,) = discord.messages[0]["embeds"]
    instant = datetime.datetime(2026, 7, 2, 19, 30, tzinfo=datetime.UTC)  # 15:30 EDT
    assert {"name": "Due", "value": f"<t:{int(instant.timestamp())}:f>", "inline": True} in embed["fields"]
    assert datetime.datetime.fromisoformat(embed["timestamp"]) == instant
