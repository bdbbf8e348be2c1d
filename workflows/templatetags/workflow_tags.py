"""Badges and small formatting for the workflow pages: status is a word and an icon, never colour alone."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()

EXECUTION = {
    "queued": ("badge", "⏳", "Queued"),
    "running": ("badge-info", "⟳", "Running"),
    "success": ("badge-ok", "✔", "Success"),
    "partial": ("badge-warn", "◐", "Partial"),
    "failure": ("badge-err", "✖", "Failed"),
}
STEP = {
    "ok": ("badge-ok", "✔", "Done"),
    "failed": ("badge-err", "✖", "Failed"),
    "skipped": ("badge", "○", "Skipped"),
    "waiting": ("badge-warn", "⏳", "Waiting"),
}
DELIVERY = {
    "pending": ("badge-warn", "⏳", "Pending"),
    "sent": ("badge-ok", "✔", "Sent"),
    "failed": ("badge-err", "✖", "Failed"),
}


def _badge(css: str, icon: str, word: str):
    return format_html('<span class="badge {}"><span aria-hidden="true">{}</span> {}</span>', css, icon, word)


@register.simple_tag
def execution_badge(run):
    if run.is_stale:
        return _badge("badge-err", "✖", "Stalled")
    return _badge(*EXECUTION.get(run.status, ("badge", "?", run.status)))


@register.simple_tag
def step_badge(status):
    return _badge(*STEP.get(status, ("badge", "?", status)))


@register.simple_tag
def delivery_badge(row):
    if row.is_waiting:
        return _badge("badge-warn", "⏳", "Waiting")
    return _badge(*DELIVERY.get(row.status, ("badge", "?", row.status)))


@register.simple_tag
def workflow_badge(workflow):
    if workflow.needs_attention:
        return _badge("badge-warn", "⚠", "Needs attention")
    if workflow.is_active:
        return _badge("badge-ok", "✔", "Active")
    return _badge("badge", "⏸", "Paused")


@register.filter
def ms(value):
    """Milliseconds as a short duration: 850 ms, 4.2 s, 3 min 5 s."""
    if value is None:
        return "—"
    value = int(value)
    if value < 1000:
        return f"{value} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds} s"


@register.filter
def trigger_label(value):
    return {"manual": "Run now", "schedule": "Schedule", "retry": "Retry"}.get(value, value)
