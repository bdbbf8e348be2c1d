"""Every value a step or integration form takes is bounded: text, and each entry of a list and their
number too (a recipients list is sent to, a calendars list is fetched one by one)."""

from integrations import schema

RECIPIENTS = [{"name": "to", "type": "list", "label": "Recipients"}]


def test_a_list_takes_a_bounded_number_of_entries():
    pasted = "\n".join(f"reader{i}@example.com" for i in range(100_000))
    result = schema.clean(RECIPIENTS, {"to": pasted})
    assert result.errors == {"to": f"Recipients takes at most {schema.MAX_LIST_ITEMS} entries."}
    assert schema.clean(RECIPIENTS, {"to": "a@example.com, b@example.com"}).values == {
        "to": ["a@example.com", "b@example.com"]
    }


def test_each_entry_of_a_list_is_as_bounded_as_a_text_field():
    result = schema.clean(RECIPIENTS, {"to": ["a@example.com", "x" * 1_000_000]})
    assert result.errors == {"to": "Recipients: an entry is too long (4096 characters at most)."}


def test_a_list_with_its_own_max_keeps_it():
    spec = [{"name": "to", "type": "list", "label": "Recipients", "max": 2}]
    assert schema.clean(spec, {"to": "a, b, c"}).errors == {"to": "Recipients takes at most 2 entries."}


def test_a_carriage_return_ends_an_entry_like_a_line_break():
    # A lone CR stayed inside the entry: "a@example.com\rBcc: x@example.com" reached a mail header,
    # which Python's email refuses, and the run reported it as unreadable data.
    result = schema.clean(RECIPIENTS, {"to": "a@example.com\rBcc: x@example.com, b@example.com"})
    assert result.values == {"to": ["a@example.com", "Bcc: x@example.com", "b@example.com"]}


def test_an_entry_given_as_a_list_cannot_hide_a_line_break():
    result = schema.clean(RECIPIENTS, {"to": ["a@example.com\rBcc: x@example.com"]})
    assert result.errors == {"to": "Recipients: an entry has a line break or another control character."}
