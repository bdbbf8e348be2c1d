"""Template helpers of the web UI: sanitized synced content, status badges, masked secrets, charts."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, escape, linebreaks
from django.utils.safestring import mark_safe

from connectors.masking import mask_url, mask_urls_in
from connectors.text import clean_html
from integrations import charts
from integrations.charts import bar_chart
from integrations.links import connect_url as _connect_url
from integrations.links import fix_url as _fix_url

register = template.Library()

# Text is treated as HTML only when it holds a real tag: "Bob <bob@example.com>" or "a<b" in a
# plain calendar description stays text (escaped, which is just as safe).
HTML_HINT = re.compile(
    r"<(/?(html|body|head|p|br|div|span|a|b|i|u|s|em|strong|small|ul|ol|li|dl|dt|dd|img|table|thead|tbody|tr|td|th|"
    r"h[1-6]|blockquote|pre|code|hr|font|center|script|style|iframe|object|embed|svg|math|form|input|button|meta|"
    r"link|base|template|noscript|title|section|article|header|footer|nav|figure|figcaption|q|cite|sub|sup|mark)"
    r"\b[^>]*|!--.*?--|!doctype[^>]*)>",
    re.IGNORECASE | re.DOTALL,
)


# Run on nh3's output only, where every attribute is name="value" with <, >, " and & escaped:
# there a regex sees exactly the <img> tags, nothing hidden in attributes or text.
_IMG_TAG = re.compile(r'<img((?:\s+[a-z-]+="[^"]*")*)\s*/?>')
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')


@dataclass
class Sanitized:
    html: str
    blocked_images: int = 0  # remote images replaced by a placeholder


def _without_remote_images(cleaned: str) -> Sanitized:
    blocked = 0

    def placeholder(match) -> str:
        nonlocal blocked
        attrs = {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(match.group(1))}
        if not attrs.get("src"):
            return ""  # its source was not http(s) and was dropped: it shows nothing anyway
        blocked += 1
        if attrs.get("width") in ("0", "1") or attrs.get("height") in ("0", "1"):
            return ""  # a tracking pixel: invisible anyway, so no placeholder either
        host = urlsplit(attrs["src"]).hostname or "another site"
        label = (attrs.get("alt") or "").strip()[:80] or "Image"
        return (
            f'<span class="image-blocked" title="Remote image from {escape(host)}, not loaded">'
            f'<span aria-hidden="true">▣</span> {escape(label)} <span class="muted">({escape(host)})</span></span>'
        )

    result = _IMG_TAG.sub(placeholder, cleaned)
    return Sanitized(result, blocked)


def sanitized(value, *, remote_images: bool = False) -> Sanitized:
    """Synced content made safe to render: no scripts, no event handlers, no javascript: URLs, and
    unless asked for no remote images: loading one tells its sender (a tracking pixel) that and
    when the message was opened, and from where."""
    text = "" if value is None else str(value)
    if not HTML_HINT.search(text):
        # Plain text (most calendar descriptions): escaped, with its line breaks kept.
        return Sanitized(linebreaks(escape(text)))
    cleaned = clean_html(text)
    if remote_images or "<img" not in cleaned:
        return Sanitized(cleaned)
    return _without_remote_images(cleaned)


def sanitize_html(value, *, remote_images: bool = False) -> str:
    return sanitized(value, remote_images=remote_images).html


@register.filter(name="sanitize", is_safe=True)
def sanitize(value):
    return mark_safe(sanitize_html(value))  # noqa: S308 - nh3 output, or escaped plain text


@register.simple_tag
def synced_content(value, remote_images=False) -> Sanitized:
    """{% synced_content item.summary item.show_images as body %}: body.html is safe to render and
    body.blocked_images says whether to offer "Load images"."""
    result = sanitized(value, remote_images=bool(remote_images))
    return Sanitized(mark_safe(result.html), result.blocked_images)  # noqa: S308 - nh3 output


@register.filter(name="mask_url")
def mask_url_filter(value):
    return mask_url(value)


@register.filter(name="mask_urls")
def mask_urls_filter(value):
    return mask_urls_in(value)


STATUS_BADGES = {
    "pending": ("badge-info", "…", "Pending"),
    "connected": ("badge-ok", "✔", "Connected"),
    "syncing": ("badge-primary", "⟳", "Syncing"),
    "error": ("badge-err", "✖", "Error"),
    "needs_reauth": ("badge-warn", "⚠", "Needs re-auth"),
    "paused": ("badge", "‖", "Paused"),
    "disconnected": ("badge", "⊘", "Disconnected"),
}
JOB_BADGES = {
    "queued": ("badge-info", "…", "Queued"),
    "running": ("badge-primary", "⟳", "Running"),
    "succeeded": ("badge-ok", "✔", "Succeeded"),
    "partial": ("badge-warn", "◐", "Partial"),
    "failed": ("badge-err", "✖", "Failed"),
    "cancelled": ("badge", "⊘", "Cancelled"),
}


def _badge(css: str, icon: str, word: str, extra: str = "") -> str:
    css_class = "badge" if css == "badge" else f"badge {css}"
    return f'<span class="{css_class}{extra}"><span aria-hidden="true">{escape(icon)}</span> {escape(word)}</span>'


@register.simple_tag
def status_badge(status):
    """Status is never colour alone: an icon and a word, always."""
    css, icon, word = STATUS_BADGES.get(str(status), ("badge", "?", str(status).replace("_", " ").capitalize()))
    return mark_safe(_badge(css, icon, word, " status-badge"))  # noqa: S308 - built from escaped parts


@register.simple_tag
def integration_status(integration, oob=False):
    """The badge of one integration, with an id so a finished sync can swap it in place (HTMX oob)."""
    badge = str(status_badge(integration.status))
    attrs = f'id="status-{int(integration.pk)}"'
    if integration.status_detail:
        attrs += f' title="{escape(mask_urls_in(integration.status_detail))}"'
    if oob:
        attrs += ' hx-swap-oob="true"'
    return mark_safe(badge.replace("<span ", f"<span {attrs} ", 1))  # noqa: S308 - escaped parts


@register.simple_tag
def job_badge(status):
    css, icon, word = JOB_BADGES.get(str(status), ("badge", "?", str(status).capitalize()))
    return mark_safe(_badge(css, icon, word))  # noqa: S308 - built from escaped parts


@register.filter
def duration(value):
    """A timedelta as a short human duration: 0.4 s, 12 s, 3 min 5 s, 2 h 10 min."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def percent(value, digits=0):
    if value is None:
        return "—"
    return f"{value * 100:.{int(digits)}f}%"


@register.simple_tag
def health_chart(health):
    return bar_chart(
        health.bars,
        title=f"Requests per hour over the last {len(health.bars)} hours",
        description=health.chart_description,
        value_label="requests",
    )


@register.simple_tag
def daily_chart(series):
    return charts.daily_chart(series)


@register.filter
def daily_summary(series):
    return charts.daily_summary(series)


@register.simple_tag
def url_or_none(viewname, *args):
    """reverse() that answers None instead of failing: links to parts of the hub that may not exist
    yet (a workflow page) render as plain text."""
    try:
        return reverse(viewname, args=args)
    except NoReverseMatch:
        return None


@register.filter
def absolute_http(value):
    """The URL when it is an absolute http(s) link, else empty: never link javascript: or data:."""
    text = str(value or "").strip()
    return conditional_escape(text) if text.lower().startswith(("http://", "https://")) else ""


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def fix_url(integration):
    return _fix_url(integration)


@register.simple_tag
def connect_url(itype):
    return _connect_url(itype)


@register.filter
def one_of(value, names: str) -> bool:
    """{% if current|one_of:"mine detail edit" %}: exact membership in a space-separated list."""
    return str(value) in names.split()


def _address(value) -> str:
    """One mail address as people write it: "Name <email>", or whichever half is known. The IMAP
    connector stores {"name", "email"} dicts; Gmail and the others store the header's text."""
    if isinstance(value, dict):
        name, email = str(value.get("name") or "").strip(), str(value.get("email") or "").strip()
        if name and email and name != email:
            return f"{name} <{email}>"
        return name or email
    return str(value).strip()


def _short_list(value, limit=3) -> str:
    """Addresses comma-joined; a long list ends with "and N more" instead of filling the card."""
    values = value if isinstance(value, list) else [value]
    shown = [text for text in (_address(v) for v in values if v not in (None, "", [], {})) if text]
    text = ", ".join(shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


@register.filter
def item_facts(item) -> list[tuple[str, str]]:
    """A few well-known fields of a synced record worth a glance (sender, place, attachments)."""
    data = item.data if isinstance(item.data, dict) else {}
    facts = []
    if data.get("from"):
        facts.append(("From", _short_list(data["from"], 1)))
    if data.get("to"):
        facts.append(("To", _short_list(data["to"])))
    if data.get("location"):
        facts.append(("Where", str(data["location"])[:120]))
    if isinstance(data.get("attachments"), list) and data["attachments"]:
        count = len(data["attachments"])
        facts.append(("Attachments", f"{count} file{'s' if count != 1 else ''}"))
    return facts


# -- times in the person's zone (activated per request by integrations.timezones) ---------------------


def _local(value):
    from django.utils import timezone

    return timezone.localtime(value) if timezone.is_aware(value) else value


def _this_year() -> int:
    from django.utils import timezone

    return timezone.localdate().year


@register.filter
def when(value, with_time=True):
    """ "Sun 5 May, 14:00" in the person's zone; the year only when it is not this year
    ("Sat 30 Dec 2023, 09:15"). {{ value|when:False }} leaves the time out."""
    import datetime

    if not value:
        return ""
    if isinstance(value, datetime.datetime):
        local = _local(value)
        day = local.date()
    else:
        local, day = None, value
    text = f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if day.year != _this_year() else "")
    if local is not None and with_time not in (False, "False", "0", 0):
        text += f", {local:%H:%M}"
    return text


@register.filter
def item_day(item):
    """The calendar day an item belongs to for the person: an all-day event's own date (never
    shifted by a zone), else the day of its time in their zone."""
    import datetime

    data = item.data if isinstance(item.data, dict) else {}
    if data.get("all_day") and data.get("date"):
        try:
            return datetime.date.fromisoformat(str(data["date"])[:10])
        except ValueError:
            pass
    return _local(item.occurred_at).date() if item.occurred_at else None


@register.filter
def day_heading(day):
    """ "Sunday 5 May" this year, "Saturday 30 December 2023" another year."""
    if not day:
        return "Undated"
    return f"{day:%A} {day.day} {day:%B}" + (f" {day.year}" if day.year != _this_year() else "")


@register.simple_tag
def item_time(item):
    """The time of an item in the person's zone; when the event's own zone shows another time
    (a meeting in New York seen from Zurich), that time too, with its zone named."""
    import zoneinfo

    from django.utils import timezone

    from integrations.timezones import place_zone

    data = item.data if isinstance(item.data, dict) else {}
    if not item.occurred_at:
        return ""
    if data.get("all_day"):
        return "all day"
    local = _local(item.occurred_at)
    text = f"{local:%H:%M}"
    own = place_zone(data.get("tzid"))
    if own and timezone.is_aware(item.occurred_at):
        theirs = item.occurred_at.astimezone(zoneinfo.ZoneInfo(own))
        if theirs.utcoffset() != local.utcoffset():
            text += f" ({theirs:%H:%M} {own})"
    return text
