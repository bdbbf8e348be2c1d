"""Pages run under a strict Content-Security-Policy: no template may carry an inline <script> or an
inline event handler (onclick=...); behaviour lives in static/js files."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group(0)[:80]}" for m in pattern.finditer(text)]
    assert offenders == []
