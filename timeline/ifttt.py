"""IFTTT: the hub as an IFTTT service, following the IFTTT Service API reference
(ifttt.com/docs/api_reference). Every call must carry the service key (IFTTT-Service-Key, the
IFTTT_SERVICE_KEY setting); calls made for a person carry their access token as Authorization:
Bearer. That token is a personal API token: the one IFTTT's OAuth2 flow obtained
(timeline.ifttt_oauth), or any token the person made on the API tokens page.

Endpoints, under /ifttt/v1/: status, test/setup, user/info, triggers/new_record,
triggers/new_card (and DELETE triggers/<slug>/trigger_identity/<id> when an Applet is turned
off), actions/create_task, actions/create_note, actions/run_workflow. Successes are wrapped in
{"data": ...}; errors are {"errors": [{"message": ...}]} with 401 for a bad key or token and 400
for bad fields (an action that cannot be done adds "status": "SKIP").

Realtime: when new records arrive (or a workflow makes cards), the triggers IFTTT is polling for
that person are named to IFTTT's Realtime API, so it polls them now instead of within the hour.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connectors.errors import ConnectorError
from connectors.http import HttpClient, OutboundPolicy
from connectors.kinds import KINDS
from integrations.api.auth import BadBody, json_body
from integrations.models import ApiToken
from timeline import automations
from timeline.models import IftttTrigger

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 50
ANY = "any"
TEST_USER = "ifttt-endpoint-tests"


class Refused(Exception):
    def __init__(self, status: int, message: str, skip: bool = False):
        super().__init__(message)
        self.status, self.message, self.skip = status, message, skip


def _answer(data, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response


def ifttt_view(*methods: str, person: bool = True):
    """Checks the service key on every call (and the person's token when `person`), reads the JSON
    body, and turns refusals into IFTTT's error shape."""

    def decorator(view):
        @csrf_exempt  # called by IFTTT's servers with the service key, never by a browser session
        def wrapped(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise Refused(405, f"Use {' or '.join(methods)} here.")
                _check_service_key(request)
                if person:
                    request.user = _person(request)
                body = _body(request)
                return view(request, body, *args, **kwargs)
            except Refused as refused:
                error = {"message": refused.message, **({"status": "SKIP"} if refused.skip else {})}
                return _answer({"errors": [error]}, status=refused.status)

        wrapped.__name__ = view.__name__
        return wrapped

    return decorator


def _check_service_key(request):
    expected = settings.IFTTT_SERVICE_KEY
    given = request.headers.get("IFTTT-Service-Key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(401, "The IFTTT service key is missing or wrong.")


def _person(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = ApiToken.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if user is None:
        raise Refused(401, "The access token is missing, revoked or wrong: connect MetaCortex again with a new one.")
    return user


def _body(request) -> dict:
    """The JSON object sent ({} for none), read as the API reads its bodies: nested too deeply, or
    holding a lone surrogate or a NUL (which the databases refuse), is a 400 naming the field."""
    if request.method != "POST":
        return {}
    try:
        body = json_body(request)
    except BadBody as bad:
        raise Refused(400, bad.message) from None
    if body is None:
        raise Refused(400, "The request body must be a JSON object.")
    return body


@ifttt_view("GET", person=False)
def status(request, body):
    return _answer({})


@ifttt_view("GET")
def user_info(request, body):
    user = request.user
    name = user.get_full_name() or user.email or user.get_username()
    return _answer({"data": {"id": str(user.pk), "name": name, "url": settings.SITE_URL + reverse("timeline:index")}})


@ifttt_view("POST", person=False)
def test_setup(request, body):
    """IFTTT's endpoint tests: a dedicated test account (never a person's), a fresh token for it,
    a few records and a workflow, and a sample value for every trigger and action field."""
    from workflows.models import Workflow

    user, created = get_user_model().objects.get_or_create(
        username=TEST_USER, defaults={"email": f"{TEST_USER}@example.invalid", "is_active": True}
    )
    if created:
        user.set_unusable_password()  # an account for IFTTT's tests: nobody signs in with it
        user.save(update_fields=["password"])
    ApiToken.objects.active().filter(user=user, name="IFTTT endpoint tests").update(revoked_at=timezone.now())
    _, token = ApiToken.issue(user, "IFTTT endpoint tests")
    existing = automations.new_records(user, limit=3)
    for n in range(len(existing), 3):
        automations.create_record(user, kind="task", title=f"Sample task {n + 1}", via="ifttt")
    workflow, _ = Workflow.objects.get_or_create(owner=user, name="IFTTT test workflow")
    return _answer(
        {
            "data": {
                "accessToken": token,
                "samples": {
                    "triggers": {"new_record": {"kind": "task"}, "new_card": {"workflow": ANY}},
                    "actions": {
                        "create_task": {"title": "Buy milk", "due": "2026-05-01", "url": ""},
                        "create_note": {"title": "An idea", "text": "Written from IFTTT"},
                        "run_workflow": {"workflow": str(workflow.pk)},
                    },
                    "actionRecordSkipping": {
                        "create_task": {"title": "", "due": "", "url": ""},
                        "create_note": {"title": "", "text": ""},
                        "run_workflow": {"workflow": "0"},
                    },
                },
            }
        }
    )


def _trigger_request(request, body: dict, slug: str, field: str) -> tuple[str, int]:
    """The trigger field's value and the limit; the trigger identity remembered for Realtime."""
    fields = body.get("triggerFields")
    if not isinstance(fields, dict) or not isinstance(fields.get(field), str) or not fields[field].strip():
        raise Refused(400, f"The trigger field {field} is missing.")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise Refused(400, "limit must be a whole number, 0 or more.")
    identity = body.get("trigger_identity")
    if isinstance(identity, str) and identity:
        # Kept for the person it was first seen with: another token cannot take it over.
        remembered, created = IftttTrigger.objects.get_or_create(
            trigger_identity=identity[:200], defaults={"user": request.user, "slug": slug, "trigger_fields": fields}
        )
        if not created and remembered.user_id == request.user.pk and remembered.trigger_fields != fields:
            remembered.trigger_fields = fields
            remembered.save(update_fields=["trigger_fields", "last_polled_at"])
    return fields[field].strip(), min(limit, 200)


def _meta(item_id: int, created_at) -> dict:
    return {"id": str(item_id), "timestamp": int(created_at.timestamp())}


@ifttt_view("POST")
def new_record(request, body):
    kind, limit = _trigger_request(request, body, "new_record", "kind")
    if kind != ANY and kind not in KINDS:
        raise Refused(400, f"Unknown kind {kind}: use one of {', '.join(KINDS)}, or {ANY}.")
    records = automations.new_records(request.user, kinds=() if kind == ANY else (kind,), limit=limit) if limit else []
    data = []
    for entity in records:
        item = automations.record_item(entity)
        data.append(
            {
                "title": item["title"],
                "kind": item["kind"],
                "summary": item["summary"],
                "start": item["start"] or "",
                "place": item["place"],
                "url": item["url"],
                "created_at": item["created_at"],
                "meta": _meta(entity.pk, entity.created_at),
            }
        )
    return _answer({"data": data})


@ifttt_view("POST")
def new_card(request, body):
    workflow, limit = _trigger_request(request, body, "new_card", "workflow")
    workflow_id = None
    if workflow != ANY:
        if not workflow.isdigit():
            raise Refused(400, f"workflow must be a workflow's number, or {ANY}.")
        workflow_id = int(workflow)
    cards = automations.new_cards(request.user, workflow_id=workflow_id, limit=limit) if limit else []
    data = []
    for card in cards:
        item = automations.card_item(card)
        data.append(
            {
                "title": item["title"],
                "content": item["content"],
                "workflow_name": item["workflow_name"],
                "url": item["url"],
                "created_at": item["created_at"],
                "meta": _meta(card.pk, card.created_at),
            }
        )
    return _answer({"data": data})


@ifttt_view("DELETE", person=False)
def forget_trigger(request, body, slug: str, identity: str):
    """An Applet turned off: IFTTT stops polling this trigger identity, and Realtime stops naming it."""
    IftttTrigger.objects.filter(trigger_identity=identity, slug=slug).delete()
    return _answer({})


def _action_fields(body: dict, *names: str) -> dict:
    fields = body.get("actionFields")
    if not isinstance(fields, dict):
        raise Refused(400, "actionFields is missing.")
    return {name: fields.get(name) if isinstance(fields.get(name), str) else "" for name in names}


def _created(entity) -> JsonResponse:
    return _answer({"data": [{"id": str(entity.pk), "url": automations.record_item(entity)["url"]}]})


@ifttt_view("POST")
def create_task(request, body):
    fields = _action_fields(body, "title", "due", "url")
    if not fields["title"].strip():
        raise Refused(400, "A task needs a title.", skip=True)
    entity = automations.create_record(
        request.user, kind="task", title=fields["title"].strip(), due=fields["due"][:40], url=fields["url"], via="ifttt"
    )
    return _created(entity)


@ifttt_view("POST")
def create_note(request, body):
    fields = _action_fields(body, "title", "text")
    if not fields["title"].strip() and not fields["text"].strip():
        raise Refused(400, "A note needs a title or some text.", skip=True)
    title = fields["title"].strip() or fields["text"].strip()[:80]
    entity = automations.create_record(request.user, kind="note", title=title, text=fields["text"], via="ifttt")
    return _created(entity)


@ifttt_view("POST")
def run_workflow(request, body):
    from django.http import Http404

    workflow = _action_fields(body, "workflow")["workflow"].strip()
    if not workflow.isdigit():
        raise Refused(400, "workflow must be the number of one of your workflows.", skip=True)
    try:
        execution, problem = automations.run_workflow(request.user, int(workflow))
    except Http404 as exc:
        raise Refused(400, "There is no such workflow in your account.", skip=True) from exc
    if execution is None:
        raise Refused(400, problem, skip=True)
    return _answer({"data": [{"id": str(execution.pk)}]})


# -- Realtime ----------------------------------------------------------------------------------


def notify(user_id: int, slug: str) -> int:
    """Name the person's polled triggers of this kind to IFTTT's Realtime API. Returns how many.
    A failure is logged and forgotten: IFTTT still polls on its own schedule."""
    if not settings.IFTTT_SERVICE_KEY:
        return 0
    identities = list(
        IftttTrigger.objects.filter(user_id=user_id, slug=slug).values_list("trigger_identity", flat=True)[:1000]
    )
    if not identities:
        return 0
    body = json.dumps({"data": [{"trigger_identity": identity} for identity in identities]})
    headers = {
        "IFTTT-Service-Key": settings.IFTTT_SERVICE_KEY,
        "Accept": "application/json",
        "Accept-Charset": "utf-8",
        "Content-Type": "application/json",
        "X-Request-ID": str(uuid.uuid4()),
    }
    try:
        with HttpClient(OutboundPolicy(max_retries=0)) as client:
            client.request("POST", settings.IFTTT_REALTIME_URL, data=body, headers=headers)
    except ConnectorError as exc:
        log.warning("IFTTT Realtime notification failed (%s): %s", exc.error_class, exc.message)
        return 0
    return len(identities)
