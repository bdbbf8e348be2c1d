"""The shared page guard every paginated listing goes through (connectors/paging.py)."""

import pytest

from connectors.errors import TransientError
from connectors.paging import PageGuard


def test_a_listing_that_never_ends_is_stopped_at_the_cap_naming_the_provider():
    guard = PageGuard("Airtable", what="table 'Tasks'", max_pages=3)
    for token in ("a", "b", "c"):
        assert guard.follow(token) == token
    with pytest.raises(TransientError, match=r"Airtable's table 'Tasks' listing went on for more than 3 pages"):
        guard.follow("d")


def test_a_token_repeated_later_in_the_listing_or_the_one_it_started_from_is_caught():
    guard = PageGuard("Microsoft Graph", start="https://graph.example/page1")
    guard.follow("https://graph.example/page2")
    with pytest.raises(TransientError, match="Microsoft Graph"):
        guard.follow("https://graph.example/page1")
    offsets = PageGuard("Spotify", start=0)
    with pytest.raises(TransientError, match="Spotify"):
        offsets.follow(0)  # an empty page that did not move the offset


def test_the_end_of_a_listing_is_no_page():
    guard = PageGuard("Notion")
    assert guard.follow(None) is None
    assert guard.follow("") == ""
    assert guard.pages == 0
