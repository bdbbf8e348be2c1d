"""What Zapier and IFTTT see of the hub and do in it: new records and new workflow cards, newest
first, each with a stable id; a task or note created as a record; a workflow run. Every read and
write is scoped to the person the token belongs to. The platform glue is in timeline.zapier and
timeline.ifttt; this module knows nothing of either."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from timeline.models import Entity

CREATABLE_KINDS = ("task", "note")
SOURCE_TYPE = "automation"  # provenance of records created from Zapier or IFTTT


def new_records(user, *, kinds=(), integration_id: int | None = None, after_id: int = 0, limit: int = 50):
    """The person's live records, newest first (by id: the order they arrived in), optionally of
    some kinds or from one integration."""
    qs = Entity.objects.filter(user=user, deleted_at__isnull=True, pk__gt=after_id).select_related("place")
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    if integration_id:
        qs = qs.filter(sources__item__integration_id=integration_id).distinct()
    return list(qs.order_by("-pk")[:limit])


def record_item(entity: Entity) -> dict:
    """A record as the platforms take it: flat text fields they can map, and its id."""
    fields = entity.fields or {}
    return {
        "id": entity.pk,
        "kind": entity.kind,
        "title": entity.title,
        "summary": entity.summary[:2000],
        "start": entity.start_at.isoformat() if entity.start_at else None,
        "end": entity.end_at.isoformat() if entity.end_at else None,
        "place": entity.place.label if entity.place_id else "",
        "url": settings.SITE_URL + reverse("timeline:record", args=[entity.pk]),
        "created_at": entity.created_at.isoformat(),
        "fields": fields,
    }


def new_cards(user, *, workflow_id: int | None = None, after_id: int = 0, limit: int = 50):
    from workflows.models import Card

    qs = Card.objects.filter(workflow__owner=user, pk__gt=after_id).select_related("workflow")
    if workflow_id:
        qs = qs.filter(workflow_id=workflow_id)
    return list(qs.order_by("-pk")[:limit])


def card_item(card) -> dict:
    return {
        "id": card.pk,
        "title": card.title,
        "content": card.content[:10_000],
        "tags": card.tags,
        "source": card.source_label,
        "workflow_id": card.workflow_id,
        "workflow_name": card.workflow.name,
        "url": settings.SITE_URL + reverse("workflows:detail", args=[card.workflow_id]),
        "created_at": card.created_at.isoformat(),
    }


def create_record(user, *, kind: str, title: str, text="", due="", url="", via="") -> Entity:
    """A task or note the person sent from a Zap or an Applet: stored as a record of its own (no
    integration; provenance "automation") and taken into the timeline at once."""
    from integrations.models import SyncedItem
    from timeline.ingest import ingest

    if kind not in CREATABLE_KINDS:
        raise ValueError(kind)
    data = {"text": text} if kind == "note" else {"due": due, "url": url}
    data = {k: v for k, v in data.items() if v}
    external_id = f"{via or 'automation'}-{uuid.uuid4()}"
    item = SyncedItem.objects.create(
        user=user,
        integration=None,
        kind=kind,
        external_id=external_id,
        occurred_at=timezone.now(),
        title=title[:500],
        summary=text,
        data=data,
        content_hash=hashlib.sha256(f"{kind}\n{title}\n{text}\n{due}\n{url}".encode()).hexdigest(),
        source_type=SOURCE_TYPE,
        source_name={"zapier": "Zapier", "ifttt": "IFTTT"}.get(via, "Automation"),
        fetched_at=timezone.now(),
    )
    ingest(user.pk, [item.pk])
    user_id = user.pk
    transaction.on_commit(lambda: _announce(user_id))
    return Entity.objects.get(sources__item=item)


def _announce(user_id: int):
    """A record created by a Zap or an Applet is new to the other Zaps and Applets too."""
    from django_q.tasks import async_task

    async_task("timeline.tasks.tell_automations", user_id, "new_record", group="timeline")


def run_workflow(user, workflow_id: int):
    """Queue a run of one of the person's workflows, as "Run now" does. Returns (execution, problem)."""
    from workflows import runner
    from workflows.models import Workflow
    from workflows.tasks import queue_execution

    workflow = get_object_or_404(Workflow, owner=user, pk=workflow_id)
    problems = runner.attention_problems(workflow)
    if problems:
        return None, "It cannot run: " + " ".join(problems)
    execution, created = runner.start_execution(workflow, "automation")
    if created:
        transaction.on_commit(lambda: queue_execution(execution))
    return execution, ""
