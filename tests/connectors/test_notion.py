"""Notion against its contract fake over real HTTP: pages created in a database or under a
page with Markdown as blocks within Notion's limits, more than 100 blocks appended, the
delivery key preventing duplicates, database pages read back, and Notion's errors explained."""

import pytest

from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError
from connectors.notion import markdown_blocks, page_id_from, rich_text
from integrations.models import IntegrationType
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.notion import DATABASE_ID, PAGE_ID, TOKEN, NotionFake

CARD = OutgoingCard(
    title="Weekly digest",
    markdown=(
        "# Highlights\nThe **café** opened.\nA [map](https://example.com/map) too.\n\n"
        "- one\n- two with `code`\n1. first\n> quoted ~~gone~~\n---\n```python\nprint('hi')\n```"
    ),
    url="https://example.com/digest",
    key="wf1:out2:digest-2026-10",
)


@pytest.fixture
def owner(db):
    return seed_owner("notion")


@pytest.fixture
def notion(allow_host, settings):
    fake = NotionFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"notion": fake.url}
    yield fake
    fake.stop()


def _notion(owner, token=TOKEN, **config):
    return open_connector(owner, "notion", secrets={"token": token}, config=config)


def _step(**values):
    return step_config("notion", "output", **{"parent_id": DATABASE_ID, **values})


def _created(notion):
    return [p for p in notion.pages.values() if p["last_edited_time"] == "2026-03-06T10:00:00.000Z"]


def test_notion_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="notion")
    assert itype.is_available
    assert itype.handler == "notion"


def test_markdown_becomes_notion_blocks():
    blocks = markdown_blocks(CARD.markdown)
    assert [b["type"] for b in blocks] == [
        "heading_1", "paragraph", "bulleted_list_item", "bulleted_list_item", "numbered_list_item", "quote",
        "divider", "code",
    ]  # fmt: skip
    paragraph = blocks[1]["paragraph"]["rich_text"]
    assert [p["text"]["content"] for p in paragraph] == ["The ", "café", " opened.\nA ", "map", " too."]
    assert paragraph[1]["annotations"] == {"bold": True}
    assert paragraph[3]["text"]["link"] == {"url": "https://example.com/map"}
    assert blocks[3]["bulleted_list_item"]["rich_text"][1]["annotations"] == {"code": True}
    assert blocks[5]["quote"]["rich_text"][1]["annotations"] == {"strikethrough": True}
    assert blocks[7]["code"] == {
        "rich_text": [{"type": "text", "text": {"content": "print('hi')"}}],
        "language": "python",
    }


def _runs(block: dict) -> list[tuple[str, dict, str | None]]:
    rich = block[block["type"]]["rich_text"]
    return [(r["text"]["content"], r.get("annotations", {}), (r["text"].get("link") or {}).get("url")) for r in rich]


def test_markdown_is_read_as_commonmark_not_line_by_line():
    """What line-by-line patterns got wrong: nested marks, marks inside link labels, escapes,
    setext headings, indented code, a list item continued on the next line."""
    blocks = markdown_blocks(
        "Weekly\n======\n\n"
        "**bold _and italic_** and snake_case_name and \\*not italic\\*\n\n"
        "See [**the map**](https://example.com/m) or [mail](mailto:a@example.com).\n\n"
        "- an item\n  continued here\n- `a*b*c`\n\n  its second paragraph\n\n"
        "Then:\n\n    indented code\n"
    )
    assert [b["type"] for b in blocks] == [
        "heading_1", "paragraph", "paragraph", "bulleted_list_item", "bulleted_list_item", "paragraph", "code",
    ]  # fmt: skip
    assert _runs(blocks[0]) == [("Weekly", {}, None)]
    assert _runs(blocks[1]) == [
        ("bold ", {"bold": True}, None),
        ("and italic", {"bold": True, "italic": True}, None),
        (" and snake_case_name and *not italic*", {}, None),
    ]
    assert _runs(blocks[2]) == [
        ("See ", {}, None),
        ("the map", {"bold": True}, "https://example.com/m"),
        (" or mail.", {}, None),  # only web links are kept as links
    ]
    assert _runs(blocks[3]) == [("an item\ncontinued here", {}, None)]
    assert _runs(blocks[4]) == [("a*b*c", {"code": True}, None), ("\nits second paragraph", {}, None)]
    assert blocks[6]["code"] == {
        "rich_text": [{"type": "text", "text": {"content": "indented code"}}],
        "language": "plain text",
    }


def test_a_paragraph_needing_more_than_100_text_objects_is_split_into_blocks():
    blocks = markdown_blocks(" ".join(f"**b{i}** p{i}" for i in range(120)))
    assert [b["type"] for b in blocks] == ["paragraph", "paragraph", "paragraph"]
    assert [len(b["paragraph"]["rich_text"]) for b in blocks] == [100, 100, 40]


def test_long_text_is_cut_into_2000_character_pieces():
    pieces = rich_text("x" * 4500)
    assert [len(p["text"]["content"]) for p in pieces] == [2000, 2000, 500]


def test_ids_and_addresses_are_both_accepted():
    dashed = "8a1f0e3c-5b2d-4c6e-9f70-1a2b3c4d5e6f"
    assert page_id_from("8a1f0e3c5b2d4c6e9f701a2b3c4d5e6f") == dashed
    assert page_id_from(f"https://www.notion.so/acme/Reading-list-{dashed.replace('-', '')}?pvs=4") == dashed
    with pytest.raises(ConfigError, match="not a Notion page or database ID"):
        page_id_from("reading list")


def test_a_card_becomes_a_database_page(owner, notion):
    delivery = _notion(owner).send([CARD], _step())

    (page,) = _created(notion)
    assert delivery.external_ids == [page["id"]]
    assert delivery.detail == "1 page created."
    assert page["parent"]["database_id"] == DATABASE_ID
    assert page["properties"]["Name"]["title"][0]["text"]["content"] == "Weekly digest"
    assert page["children"][0]["type"] == "heading_1"
    assert page["children"][-1]["paragraph"]["rich_text"][0]["text"]["link"] == {"url": "https://example.com/digest"}
    seen = notion.requests("POST", "/v1/pages")[0]
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["Notion-Version"] == "2022-06-28"


def test_a_card_becomes_a_child_page(owner, notion):
    _notion(owner).send([CARD], _step(parent_id=PAGE_ID, parent_type="page"))
    (page,) = _created(notion)
    assert page["parent"]["page_id"] == PAGE_ID
    assert list(page["properties"]) == ["title"]


def test_more_than_100_blocks_are_appended_in_batches(owner, notion):
    card = OutgoingCard(title="Long", markdown="\n".join(f"- item {i}" for i in range(250)), key="long")
    _notion(owner).send([card], _step())
    (page,) = _created(notion)
    assert len(page["children"]) == 250
    assert [len(s.json["children"]) for s in notion.requests("PATCH")] == [100, 50]
    assert len(notion.requests("POST", "/v1/pages")[0].json["children"]) == 100


def test_the_delivery_key_stops_duplicates(owner, notion):
    connector = _notion(owner)
    config = _step(key_property="Delivery key")
    connector.send([CARD], config)
    delivery = connector.send([CARD], config)  # the same run retried

    assert len(_created(notion)) == 1
    assert "1 already there (same delivery key), not duplicated" in delivery.detail
    query = notion.requests("POST", "/query")[-1].json
    assert query["filter"] == {"property": "Delivery key", "rich_text": {"equals": CARD.key}}


def test_an_unshared_database_says_to_share_it(owner, notion):
    with pytest.raises(ConfigError, match="Could not find database") as exc:
        _notion(owner).send([CARD], _step(parent_id="00000000000040008000000000000000"))
    assert "Share the page or database with your integration" in exc.value.remediation
    assert exc.value.field == "parent_id"


def test_a_wrong_title_property_is_named(owner, notion):
    with pytest.raises(ConfigError, match="Title is not a property that exists") as exc:
        _notion(owner).send([CARD], _step(title_property="Title"))
    assert exc.value.field == "title_property"


def test_a_refused_token_is_an_auth_error(owner, notion):
    with pytest.raises(AuthError, match="refused the integration token"):
        _notion(owner, token="ntn_wrong").send([CARD], _step())


def test_a_rate_limited_request_is_waited_out(owner, notion):
    notion.fail(
        "POST",
        "/v1/pages",
        429,
        {
            "object": "error",
            "status": 429,
            "code": "rate_limited",
            "message": "You have been rate limited. Please try again in a few minutes.",
        },
        {"Retry-After": "1"},
    )
    _notion(owner).send([CARD], _step())
    first, second = notion.requests("POST", "/v1/pages")
    assert second.at - first.at >= 1.0
    assert len(_created(notion)) == 1


def test_database_pages_are_read_as_records(owner, notion):
    notion.add_row("Read Dune", status="Doing", edited="2026-03-01T10:00:00.000Z")
    for i in range(120):
        notion.add_row(f"Book {i}")
    records = _notion(owner).query(step_config("notion", "source", databases=DATABASE_ID.replace("-", "")))

    assert len(records) == 121
    dune = records[0]
    assert dune.kind == "notion_page"
    assert dune.title == "Read Dune"
    assert dune.data["properties"]["Status"] == "Doing"
    assert dune.version == "2026-03-01T10:00:00.000Z"
    assert dune.source_url.startswith("https://www.notion.so/")
    assert [s.json.get("start_cursor") for s in notion.requests("POST", "/query")] == [None, "100"]


def test_test_connection_names_the_integration_and_workspace(owner, notion):
    assert _notion(owner).test_connection() == "MetaCortex in Acme"


def test_a_listing_that_announces_more_without_a_cursor_deletes_nothing(owner, notion):
    from tests.connectors.helpers import live_items, sync

    for i in range(120):
        notion.add_row(f"Book {i}")
    integration = _notion(owner, databases=DATABASE_ID.replace("-", "")).ctx.integration
    assert sync(integration).created == 120

    notion.lose_next_cursor = True  # the first hundred, "has_more", and no way to the rest
    job = sync(integration)

    assert job.deleted == 0
    assert live_items(integration).count() == 120


@pytest.mark.parametrize("by", ["search", "database"])
def test_a_page_moved_to_the_trash_leaves_the_hub(owner, notion, by):
    """A page moved to Notion's trash is gone for the person: the next sync deletes it here, whether
    the listing leaves it out (a database query) or still lists it flagged in_trash (search)."""
    from tests.connectors.helpers import live_items, sync

    kept, trashed = notion.add_row("Keep me"), notion.add_row("Throw me away")
    config = {"databases": DATABASE_ID.replace("-", "")} if by == "database" else {}
    integration = _notion(owner, **config).ctx.integration
    assert sync(integration).created == 2

    notion.trash(trashed)
    job = sync(integration)

    assert job.deleted == 1
    assert [item.external_id for item in live_items(integration)] == [kept]


def test_a_cursor_given_twice_stops_the_listing_instead_of_looping_forever(owner, notion):
    from connectors.errors import TransientError

    notion.add_row("Read Dune")
    page = {"object": "list", "results": [], "has_more": True, "next_cursor": "again"}
    notion.fail("POST", r"/query$", 200, page, times=200)

    with pytest.raises(TransientError, match=r"Notion.*same next-page token twice"):
        _notion(owner).query(step_config("notion", "source", databases=DATABASE_ID.replace("-", "")))
    assert len(notion.requests("POST", "/query")) < 10
