"""The hub's one HTML-to-text conversion (connectors/text.py), used by mail bodies without a text
part, CalDAV descriptions written as HTML and workflow templates rendered as HTML."""

from connectors.text import clean_html, html_to_text


def test_blocks_become_lines_and_hidden_parts_are_dropped():
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<h1>Agenda</h1><p>Caf&eacute;&nbsp;at   <b>ten</b></p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul><br>end</body></html>"
    )
    assert html_to_text(html) == "Agenda\n\nCafé at ten\n\none\n\ntwo\n\nend"


def test_broken_markup_keeps_what_was_read():
    assert html_to_text("<p>unclosed <b>bold <i>and more") == "unclosed bold and more"
    assert html_to_text("") == ""


def test_the_three_callers_use_it():
    """IMAP, CalDAV and workflows convert with this function, not a copy of their own."""
    from connectors.caldav_calendar import ical
    from connectors.imap_mail import parse
    from workflows import templating

    assert parse.html_to_text is ical.html_to_text is templating.html_to_text is html_to_text


def test_one_nh3_policy_for_the_pages_and_the_delivered_cards():
    from integrations.templatetags.hub import sanitize_html
    from workflows.templating import markdown_to_html, sanitize

    dirty = (
        '<p onclick="x()">Hi <a href="javascript:alert(1)">bad</a> <a href="/admin/">inside</a> '
        '<a href="https://example.com/a">ok</a><script>steal()</script><style>p{}</style></p>'
    )
    cleaned = clean_html(dirty)
    assert cleaned == (
        '<p>Hi <a rel="noopener noreferrer nofollow">bad</a> <a rel="noopener noreferrer nofollow">inside</a> '
        '<a href="https://example.com/a" rel="noopener noreferrer nofollow">ok</a></p>'
    )
    assert sanitize(dirty) == cleaned  # the cards workflows deliver
    assert sanitize_html(dirty) == cleaned  # synced content in the hub's pages
    assert 'href="https://example.com/m"' in markdown_to_html("[m](https://example.com/m) and ~~s~~")


def test_nh3_is_configured_in_one_module_only():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    users = set()
    for package in ("connectors", "integrations", "workflows", "metacortex"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
                if "nh3" in names:
                    users.add(path.relative_to(root).as_posix())
    assert users == {"connectors/text.py"}
