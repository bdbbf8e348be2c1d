"""Zapier: the hub as an app Zaps call, authenticated with the person's API token (API Key
authentication, sent as Authorization: Bearer mc_…).

Following Zapier's REST Hook triggers (docs.zapier.com/platform/build/hook-trigger):
- subscribe: POST /zapier/hooks with the Zap's `target_url` ({{bundle.targetUrl}}); the answer's
  `id` is what Zapier keeps (bundle.subscribeData.id) and sends back to unsubscribe;
- unsubscribe: DELETE /zapier/hooks/{id};
- delivery: new items are POSTed to the target URL as a JSON array, each with a stable `id`; a
  target that answers 410 Gone has been turned off and is unsubscribed here;
- perform list: GET /zapier/triggers/new-records (and /new-cards), newest first, for the Zap
  editor's samples and for polling (Zapier deduplicates by `id`).
Actions: POST /zapier/actions/records (a task or note) and /zapier/actions/workflow-runs.
"""

from __future__ import annotations

import datetime
import logging
from urllib.parse import urlsplit

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from connectors.errors import ConfigError, ConnectorError
from connectors.http import HttpClient, OutboundPolicy
from connectors.webapi import dumps
from timeline import automations, leases
from timeline.models import HookEvent, ZapierHook

log = logging.getLogger(__name__)
router = Router(tags=["zapier"])
BATCH = 50
MAX_BATCHES_PER_RUN = 10
MAX_PAUSE = 3600


class Me(Schema):
    id: int
    email: str
    name: str


@router.get("/zapier/me", response=Me, summary="Zapier's connection test: who the token belongs to")
def me(request):
    user = request.user
    return {"id": user.pk, "email": user.email, "name": user.get_full_name() or user.get_username()}


def _kinds(value: str | list[str] | None) -> list[str]:
    from connectors.kinds import KINDS

    if isinstance(value, str):
        value = value.split(",")
    kinds = [k.strip() for k in value or [] if k and k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise HttpError(400, f"Unknown kind(s): {', '.join(unknown[:5])}. Kinds are: {', '.join(KINDS)}.")
    return kinds


def _owned_integration(user, integration_id: int | None):
    from integrations.models import Integration

    if not integration_id:
        return None
    return get_object_or_404(Integration, user=user, pk=integration_id)


def _owned_workflow(user, workflow_id: int | None):
    from workflows.models import Workflow

    if not workflow_id:
        return None
    return get_object_or_404(Workflow, owner=user, pk=workflow_id)


class HookIn(Schema):
    target_url: str = Field(max_length=2000, description="The Zap's own address: {{bundle.targetUrl}}")
    event: HookEvent = HookEvent.NEW_RECORD
    kinds: list[str] | str = Field(default_factory=list, description="Only these kinds (list or comma-separated)")
    integration: int | None = Field(None, description="Only records from this integration")
    workflow: int | None = Field(None, description="Only cards of this workflow (event new_card)")


class HookOut(Schema):
    id: int
    event: str
    kinds: list[str]
    integration: int | None
    workflow: int | None


def _hook_json(hook: ZapierHook) -> dict:
    return {
        "id": hook.pk,
        "event": hook.event,
        "kinds": hook.kinds,
        "integration": hook.integration_id,
        "workflow": hook.workflow_id,
    }


@router.post("/zapier/hooks", response={201: HookOut}, summary="Subscribe a Zap (REST Hook)")
def subscribe(request, body: HookIn):
    """A turned-on Zap: its new items are POSTed to `target_url` from now on."""
    from ninja import Status

    from timeline.webhooks import validate_url

    kinds = _kinds(body.kinds)
    integration = _owned_integration(request.user, body.integration)
    workflow = _owned_workflow(request.user, body.workflow)
    try:
        url = validate_url(body.target_url)
    except ConnectorError as exc:
        raise HttpError(400, f"{exc.message} {exc.remediation}".strip()) from exc
    hook = ZapierHook.objects.create(
        user=request.user,
        target_url=url,
        event=body.event,
        kinds=kinds,
        integration=integration,
        workflow=workflow,
        delivered_record=_latest_record_id(request.user),
        delivered_card=_latest_card_id(request.user),
    )
    return Status(201, _hook_json(hook))


def _latest_record_id(user) -> int:
    from timeline.models import Entity

    return Entity.objects.filter(user=user).order_by("-pk").values_list("pk", flat=True).first() or 0


def _latest_card_id(user) -> int:
    from workflows.models import Card

    return Card.objects.filter(workflow__owner=user).order_by("-pk").values_list("pk", flat=True).first() or 0


@router.delete("/zapier/hooks/{hook_id}", response={200: HookOut}, summary="Unsubscribe a Zap")
def unsubscribe(request, hook_id: int):
    hook = get_object_or_404(ZapierHook, user=request.user, pk=hook_id)
    answer = _hook_json(hook)
    hook.delete()
    return answer


class RecordItem(Schema):
    id: int
    kind: str
    title: str
    summary: str
    start: str | None
    end: str | None
    place: str
    url: str
    created_at: str
    fields: dict


class CardItem(Schema):
    id: int
    title: str
    content: str
    tags: list
    source: str
    workflow_id: int
    workflow_name: str
    url: str
    created_at: str


@router.get("/zapier/triggers/new-records", response=list[RecordItem], summary="New records, newest first")
def poll_records(
    request,
    kinds: str = Query("", description="Comma-separated kinds; empty: every kind"),
    integration: int | None = None,
    limit: int = Query(50, ge=1, le=100),
):
    """For polling triggers and the Zap editor's samples: Zapier deduplicates by `id`."""
    _owned_integration(request.user, integration)
    records = automations.new_records(request.user, kinds=_kinds(kinds), integration_id=integration, limit=limit)
    return [automations.record_item(e) for e in records]


@router.get("/zapier/triggers/new-cards", response=list[CardItem], summary="New workflow cards, newest first")
def poll_cards(request, workflow: int | None = None, limit: int = Query(50, ge=1, le=100)):
    _owned_workflow(request.user, workflow)
    return [automations.card_item(c) for c in automations.new_cards(request.user, workflow_id=workflow, limit=limit)]


class Choice(Schema):
    id: str
    name: str


@router.get("/zapier/choices/{what}", response=list[Choice], summary="Dropdown choices for the Zap editor")
def choices(request, what: str):
    """`kinds`, `integrations` or `workflows`: what a trigger or action field can be set to."""
    from connectors.kinds import KINDS
    from integrations.models import Integration
    from workflows.models import Workflow

    if what == "kinds":
        return [{"id": k.key, "name": k.label} for k in KINDS.values()]
    if what == "integrations":
        rows = Integration.objects.filter(user=request.user).order_by("name").values_list("pk", "name")
    elif what == "workflows":
        rows = Workflow.objects.filter(owner=request.user).order_by("name").values_list("pk", "name")
    else:
        raise HttpError(404, "Not found: choices are kinds, integrations or workflows.")
    return [{"id": str(pk), "name": name} for pk, name in rows]


class RecordIn(Schema):
    kind: str = Field("task", description="task or note")
    title: str = Field(min_length=1, max_length=500)
    text: str = Field("", max_length=20_000)
    due: str = Field("", max_length=40, description="A task's due date, e.g. 2026-05-01")
    url: str = Field("", max_length=2000)


@router.post("/zapier/actions/records", response={201: RecordItem}, summary="Create a task or note")
def create_record(request, body: RecordIn):
    from ninja import Status

    if body.kind not in automations.CREATABLE_KINDS:
        raise HttpError(400, "kind: a task or a note can be created (task, note).")
    entity = automations.create_record(
        request.user, kind=body.kind, title=body.title, text=body.text, due=body.due, url=body.url, via="zapier"
    )
    return Status(201, automations.record_item(entity))


class RunIn(Schema):
    workflow: int


class RunOut(Schema):
    id: int
    workflow_id: int
    status: str


@router.post("/zapier/actions/workflow-runs", response={202: RunOut}, summary="Run a workflow")
def run_workflow(request, body: RunIn):
    """Queued as "Run now" is; when a run is already under way, that run is the answer."""
    from ninja import Status

    execution, problem = automations.run_workflow(request.user, body.workflow)
    if execution is None:
        raise HttpError(409, problem)
    return Status(202, {"id": execution.pk, "workflow_id": execution.workflow_id, "status": execution.status})


# -- delivery ----------------------------------------------------------------------------------


class Gone(Exception):
    """The target answered 410: the Zap is off or deleted."""


def deliver(hook_id: int) -> int:
    """Send a Zap what it has not had yet, a batch at a time. Returns the items delivered."""
    hook = leases.claim(ZapierHook, hook_id)
    if hook is None:
        return 0  # deleted, paused, or another worker is sending it right now
    delivered = 0
    try:
        for _ in range(MAX_BATCHES_PER_RUN):
            items, last = _pending(hook)
            if not items:
                break
            try:
                _post(hook, items)
            except Gone:
                log.info("Zapier hook %s answered 410 Gone: unsubscribed", hook.pk)
                ZapierHook.objects.filter(pk=hook.pk).delete()
                return delivered
            except ConnectorError as exc:
                _failed(hook, exc)
                break
            if hook.event == HookEvent.NEW_CARD:
                hook.delivered_card = last
            else:
                hook.delivered_record = last
            hook.failures, hook.next_attempt_at, hook.last_error = 0, None, ""
            fields = ["delivered_card", "delivered_record", "failures", "next_attempt_at", "last_error"]
            if not leases.save(hook, fields, keep=True):
                return delivered  # the lease ran out: the worker that took the hook over sends the rest
            delivered += len(items)
    finally:
        leases.release(hook)
    return delivered


def _pending(hook: ZapierHook) -> tuple[list[dict], int]:
    """The next batch, oldest first (so a failure resends from where it stopped), and its last id."""
    if hook.event == HookEvent.NEW_CARD:
        from workflows.models import Card

        cards = Card.objects.filter(workflow__owner_id=hook.user_id, pk__gt=hook.delivered_card)
        if hook.workflow_id:
            cards = cards.filter(workflow_id=hook.workflow_id)
        batch = list(cards.select_related("workflow").order_by("pk")[:BATCH])
        return [automations.card_item(c) for c in batch], batch[-1].pk if batch else 0
    from timeline.models import Entity

    records = Entity.objects.filter(user_id=hook.user_id, deleted_at__isnull=True, pk__gt=hook.delivered_record)
    if hook.kinds:
        records = records.filter(kind__in=hook.kinds)
    if hook.integration_id:
        records = records.filter(sources__item__integration_id=hook.integration_id).distinct()
    batch = list(records.select_related("place").order_by("pk")[:BATCH])
    return [automations.record_item(e) for e in batch], batch[-1].pk if batch else 0


def _post(hook: ZapierHook, items: list[dict]):
    from timeline.webhooks import validate_url

    # One try per run: the retry is the next run, after a pause that grows with each failure.
    with HttpClient(OutboundPolicy(max_retries=0)) as client:
        response = client.request(
            "POST",
            validate_url(hook.target_url),
            data=dumps(items),
            headers={"Content-Type": "application/json; charset=utf-8"},
            allow=range(300, 600),
        )
    if response.status_code == 410:
        raise Gone()
    if not 200 <= response.status_code < 300:
        raise ConfigError(f"it answered HTTP {response.status_code}")


def _failed(hook: ZapierHook, error: ConnectorError):
    hook.failures += 1
    pause = min(MAX_PAUSE, 30 * 2 ** (hook.failures - 1))
    hook.next_attempt_at = timezone.now() + datetime.timedelta(seconds=pause)
    hook.last_error = f"{urlsplit(hook.target_url).hostname} did not take the new items: {error.message}"[:500]
    leases.save(hook, ["failures", "next_attempt_at", "last_error"], keep=True)
    log.info("Zapier hook %s failed (%s); next try in %s s", hook.pk, error.error_class, pause)


def deliver_due(user_id: int | None = None, event: str | None = None) -> int:
    """Every due hook (of one user, of one event): after ingest, after a workflow run, and on the sweep."""
    hooks = leases.due(ZapierHook.objects.all())
    if user_id is not None:
        hooks = hooks.filter(user_id=user_id)
    if event is not None:
        hooks = hooks.filter(event=event)
    return sum(deliver(pk) for pk in list(hooks.values_list("pk", flat=True)))
