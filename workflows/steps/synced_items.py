"""Source step over what an integration has synced in (events, mail, feed entries...).

Its schema is defined here, once, for every syncable integration; the form generator renders it
like a blueprint schema. Time windows are read in the workflow owner's time zone (the runner
activates it): "tomorrow" is their next calendar day, from midnight to midnight.
"""

from __future__ import annotations

import datetime

from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_date

from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    InternalError,
    ItemError,
    RateLimited,
    TransientError,
)
from integrations.models import JobStatus, JobTrigger, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import SyncRefused, queue_sync
from workflows.cards import Entry, drafts_for
from workflows.steps.base import Collected

SCHEMA = [
    {
        "name": "window",
        "type": "choice",
        "label": "Which items",
        "default": "new",
        "options": [
            {"value": "new", "label": "New since the last run"},
            {"value": "today", "label": "Today"},
            {"value": "tomorrow", "label": "Tomorrow"},
            {"value": "next_hours", "label": "The next N hours"},
            {"value": "past_hours", "label": "The past N hours"},
        ],
        "help": "Today and tomorrow are calendar days in your time zone; events use their start time.",
    },
    {
        "name": "hours",
        "type": "integer",
        "label": "N hours",
        "default": 24,
        "min": 1,
        "max": 744,
        "help": "Only for “the next N hours” and “the past N hours”.",
    },
    {
        "name": "kind",
        "type": "text",
        "label": "Only items of kind",
        "placeholder": "event, message, feed_item",
        "help": "Empty: everything this integration brings in.",
    },
    {
        "name": "text_filter",
        "type": "text",
        "label": "Containing",
        "help": "Only items whose title or summary contains this text (not case-sensitive).",
    },
    {"name": "limit", "type": "integer", "label": "At most", "default": 20, "min": 1, "max": 200},
    {
        "name": "sync_first",
        "type": "boolean",
        "label": "Sync before reading",
        "default": True,
        "help": "Fetch the newest items from the service at the start of each run.",
    },
]
MAX_CANDIDATES = 5000
WINDOW_LABELS = {o["value"]: o["label"] for o in SCHEMA[0]["options"]}
_JOB_ERRORS = {
    "auth": AuthError,
    "rate_limit": RateLimited,
    "transient": TransientError,
    "item": ItemError,
    "internal": InternalError,
}


class SyncedItems:
    kind = "synced_items"
    label = "Synced items"

    def accepts(self, connector_cls) -> bool:
        return connector_cls.can_sync()

    def schema(self, integration) -> list[dict]:
        return SCHEMA

    def initial(self, integration) -> dict:
        return {}

    def describe(self, source) -> str:
        config = source.config or {}
        window = config.get("window", "new")
        label = WINDOW_LABELS.get(window, window)
        if window in ("next_hours", "past_hours"):
            label = label.replace("N", str(config.get("hours", 24)))
        parts = [label]
        if config.get("kind"):
            parts.append(f"kind {config['kind']}")
        if config.get("text_filter"):
            parts.append(f"containing “{config['text_filter']}”")
        parts.append(f"at most {config.get('limit', 20)}")
        return ", ".join(parts)

    def default_title(self, source) -> str:
        window = (source.config or {}).get("window", "new")
        name = source.integration.name if source.integration else "Deleted integration"
        return {"new": f"New from {name}", "today": f"{name}: today", "tomorrow": f"{name}: tomorrow"}.get(window, name)

    # -- running -------------------------------------------------------------------------------------
    def collect(self, source, run) -> Collected:
        integration, config = source.integration, source.config or {}
        if config.get("sync_first", True):
            sync_now(integration)
        window = self.window(source, run.now)
        entries, more, newest = self.read(integration, config, window)
        state = None
        if window["field"] == "first_seen_at" and newest is not None:
            state = {**(source.state or {}), "seen_until": newest.isoformat()}
        title = source.title or self.default_title(source)
        request = {"kind": self.kind, "source": source.pk, "integration": integration.pk, "config": config}
        request["window"] = {**window, "newest": newest.isoformat() if newest else None}
        label = str(integration)
        drafts = drafts_for(
            entries, title=title, per_entry=source.one_card_per_item, request=request, tags=source.tags, label=label,
            more=more,
        )  # fmt: skip
        return Collected(drafts=drafts, state=state, detail=f"{len(entries) + more} item(s) found")

    def recollect(self, card, source) -> list:
        """Refresh: read the same window again (no new sync), with the stored config."""
        request = card.request or {}
        window = dict(request.get("window") or {})
        if window.get("field") == "first_seen_at" and window.get("newest"):
            window["end"] = window["newest"]
        entries, more, _ = self.read(source.integration, request.get("config") or {}, window)
        if request.get("external_id"):
            entries = [e for e in entries if e.external_id == request["external_id"]]
        title = card.title
        return drafts_for(
            entries, title=title, per_entry=bool(request.get("external_id")), request=request, tags=card.tags,
            label=card.source_label, more=more,
        )  # fmt: skip

    def window(self, source, now) -> dict:
        config = source.config or {}
        choice = config.get("window", "new")
        hours = int(config.get("hours") or 24)
        local_now = timezone.localtime(now)
        if choice == "new":
            since = (source.state or {}).get("seen_until")
            return {"name": choice, "field": "first_seen_at", "start": since, "end": None}
        if choice in ("today", "tomorrow"):
            day = local_now.date() + datetime.timedelta(days=1 if choice == "tomorrow" else 0)
            start = _midnight(day, local_now.tzinfo)
            end = _midnight(day + datetime.timedelta(days=1), local_now.tzinfo)
        elif choice == "past_hours":
            start, end = now - datetime.timedelta(hours=hours), now
        else:
            start, end = now, now + datetime.timedelta(hours=hours)
        return {"name": choice, "field": "occurred_at", "start": start.isoformat(), "end": end.isoformat()}

    def read(self, integration, config: dict, window: dict):
        qs = SyncedItem.objects.live().filter(integration=integration)
        if config.get("kind"):
            qs = qs.filter(kind=str(config["kind"]).strip())
        if text := str(config.get("text_filter") or "").strip():
            qs = qs.filter(Q(title__icontains=text) | Q(summary__icontains=text))
        field, start, end = window.get("field", "occurred_at"), _dt(window.get("start")), _dt(window.get("end"))
        limit = int(config.get("limit") or 20)
        if field == "first_seen_at":
            if start is not None:
                qs = qs.filter(first_seen_at__gt=start)
            if end is not None:
                qs = qs.filter(first_seen_at__lte=end)
            newest = qs.aggregate(newest=Max("first_seen_at"))["newest"]
            total = qs.count()
            ordered = qs.order_by(F("occurred_at").desc(nulls_last=True), "-first_seen_at", "-pk")
            entries = [Entry.from_synced(item) for item in ordered[:limit]]
            return entries, max(0, total - len(entries)), newest
        # All-day events are stored at midnight UTC of their date: widen the query by a day and
        # place them at local midnight of their date, so "tomorrow" means the local tomorrow.
        margin = datetime.timedelta(days=1)
        candidates = qs.filter(occurred_at__gte=start - margin, occurred_at__lt=end + margin)
        timed = sorted(
            ((when, item) for item in candidates.order_by("occurred_at", "pk")[:MAX_CANDIDATES]
             if (when := _local_start(item)) is not None and start <= when < end),
            key=lambda pair: pair[0],
        )  # fmt: skip
        entries = [Entry.from_synced(item) for _, item in timed[:limit]]
        return entries, max(0, len(timed) - len(entries)), None


def sync_now(integration):
    """Run the integration's incremental sync here and now; a sync already running elsewhere is
    left alone (what it has stored is read). A failed sync fails this source with its error."""
    try:
        job = queue_sync(integration, trigger=JobTrigger.WORKFLOW, enqueue=False)
    except SyncRefused as exc:
        raise ConfigError(f"{integration.name} could not sync: {exc}", remediation=str(exc)) from None
    finished = run_job(job.pk)
    integration.refresh_from_db()
    if finished is not None and finished.status == JobStatus.FAILED:
        raise job_error(finished)


def job_error(job) -> ConnectorError:
    cls = _JOB_ERRORS.get(job.error_class, ConfigError)
    return cls(job.error_message or "The sync failed.", remediation=job.remediation or None)


def _local_start(item):
    data = item.data if isinstance(item.data, dict) else {}
    if data.get("all_day"):
        day = parse_date(str(data.get("start") or "")[:10])
        return _midnight(day, timezone.get_current_timezone()) if day else None
    return item.occurred_at


def _midnight(day: datetime.date, tz) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def _dt(value):
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)
