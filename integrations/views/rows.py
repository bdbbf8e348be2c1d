"""The rows of My integrations as HTML, built in Python.

A person may have 200 integrations: in a Django template every variable, tag and include of a row
costs a lookup, an escape and a localization, 200 times over, which was most of the page's time
(about 20 variables a row even with every value precomputed). Here a row is one f-string of
escaped parts. The markup is what the row template rendered, and the parts that HTMX swaps in
later (#status-, #last-synced-, #item-count-, #progress-) match their partials
(tests/integrations/test_mine_rows.py holds them together).
"""

from __future__ import annotations

from django.contrib.humanize.templatetags.humanize import intcomma, naturaltime
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from integrations.templatetags.hub import integration_status
from integrations.views.common import RowUrls

NEVER = '<span class="muted">Never</span>'


def time_ago(value) -> str:
    """<time> as the templates write it: ISO in the person's zone, the full date on hover, and
    "3 hours ago" as the text ({{ v|date:'c' }}, {{ v }} and {{ v|naturaltime }})."""
    if not value:
        return NEVER
    local = timezone.template_localtime(value)
    return (
        f'<time datetime="{local.isoformat()}" title="{escape(formats.localize(local))}">'
        f"{escape(naturaltime(value))}</time>"
    )


def last_synced(integration) -> str:
    return f'<span id="last-synced-{int(integration.pk)}">{time_ago(integration.last_synced_at)}</span>'


def item_count(integration) -> str:
    return f'<span id="item-count-{int(integration.pk)}">{escape(intcomma(integration.item_count))}</span>'


class Rows:
    """What every row shares, worked out once a request: link patterns, the CSRF field, the
    address to come back to, and per type (a few dozen for 200 rows) the icon and whether it syncs
    (can_sync builds a connector; the manifest storage's lookup is not free)."""

    def __init__(self, request, active_jobs: dict):
        self.request = request
        self.active_jobs = active_jobs
        self.urls = RowUrls()
        self.csrf = csrf_input(request)
        self.next = escape(request.get_full_path())
        self.types = {}

    def _type(self, itype) -> tuple[str, bool, bool]:
        if itype.pk not in self.types:
            self.types[itype.pk] = (escape(static(f"icons/{itype.icon}")), itype.can_sync, itype.syncs_on_request)
        return self.types[itype.pk]

    def render(self, integrations) -> SafeString:
        return mark_safe("".join(self.row(integration) for integration in integrations))  # noqa: S308 - escaped parts

    def row(self, integration) -> str:
        pk = int(integration.pk)
        urls = self.urls.for_pk(pk)
        icon, syncs, on_request = self._type(integration.type)
        name = escape(integration.name)
        meta = escape(integration.type.display_name)
        if integration.account_identity:
            meta += f" · {escape(integration.account_identity)}"
        if syncs:
            cells = (
                f'<div class="int-cell"><span class="cell-label">Last sync</span>{last_synced(integration)}</div>'
                f'<div class="int-cell"><span class="cell-label">Items</span><a href="{urls["items"]}">'
                f"{item_count(integration)}</a></div>"
            )
        else:
            cells = (
                '<div class="int-cell"><span class="cell-label">Last delivery</span>'
                f"{time_ago(integration.last_used_at)}</div>"
                '<div class="int-cell"><span class="cell-label">Items</span><span class="muted" '
                'title="It sends workflow content out and brings no data in">Output only</span></div>'
            )
        return (
            f'<li class="card int-row" id="integration-{pk}">'
            f'<div class="int-main"><img class="card-icon" src="{icon}" alt="" width="40" height="40">'
            f'<div class="int-title"><a class="int-name" href="{urls["detail"]}">{name}</a>'
            f'<div class="card-meta">{meta}</div></div></div>'
            f'<div class="int-cell"><span class="cell-label">Status</span>{integration_status(integration)}</div>'
            f"{cells}"
            f'<div class="int-actions"><a class="btn btn-secondary btn-sm" href="{urls["detail"]}">Manage</a>'
            f"{self._sync_now(integration, on_request, urls, name)}{self._menu(integration, urls, name)}</div>"
            f'<div class="int-progress" id="progress-{pk}">{self._progress(integration)}</div></li>'
        )

    def _sync_now(self, integration, syncs: bool, urls: dict, name: str) -> str:
        if not (integration.is_active and syncs):
            return ""
        return (
            f'<form method="post" action="{urls["sync_now"]}" class="inline-form" hx-post="{urls["sync_now"]}" '
            f'hx-target="#progress-{int(integration.pk)}" hx-swap="innerHTML">{self.csrf}'
            # The visible "Sync now" starts its name (voice control users say what they see); the
            # integration's name follows for screen readers, who meet one such button per row.
            '<button class="btn btn-primary btn-sm" type="submit"><span aria-hidden="true">⟳</span> Sync now'
            f'<span class="visually-hidden">: {name}</span></button></form>'
        )

    def _menu(self, integration, urls: dict, name: str) -> str:
        if integration.status == "paused":
            toggle = self._post(urls["resume"], "▶ Resume")
        elif integration.status != "disconnected":
            toggle = self._post(urls["pause"], "‖ Pause")
        else:
            toggle = ""
        disconnect = ""
        if integration.status != "disconnected":
            disconnect = f'<a class="menu-item" href="{urls["disconnect"]}">⊘ Disconnect</a>'
        return (
            '<details class="menu">'
            f'<summary class="btn btn-ghost btn-sm" aria-label="More actions for {name}">More ▾</summary>'
            f'<div class="menu-items">{toggle}<a class="menu-item" href="{urls["edit"]}">⚙ Settings</a>'
            f'{disconnect}<a class="menu-item danger" href="{urls["delete"]}">✕ Delete</a></div></details>'
        )

    def _post(self, action: str, label: str) -> str:
        """A menu action that works without JavaScript: a form that comes back to this page."""
        return (
            f'<form method="post" action="{action}">{self.csrf}<input type="hidden" name="next" value="{self.next}">'
            f'<button type="submit" class="menu-item">{label}</button></form>'
        )

    def _progress(self, integration) -> str:
        job = self.active_jobs.get(integration.pk)
        if job is None:
            return ""
        # Rare (a sync running right now) and the same partial the job's polling answers.
        return render_to_string(
            "integrations/_job_progress.html", {"job": job, "integration": integration}, request=self.request
        )
