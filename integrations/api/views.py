"""What the JSON API's integration routes do (integrations.api.routes declares them on
django-ninja, which authenticates first). Every query is scoped to the authenticated user: another
user's integration or job is a 404, exactly like one that does not exist."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.views.decorators.csrf import csrf_exempt

from integrations import connections, lifecycle
from integrations.api import listing
from integrations.api.auth import answer, error, guarded, json_body
from integrations.api.serialize import integration_json, job_json
from integrations.connections import Problem
from integrations.models import ACTIVE_JOB_STATUSES, Credential, Integration, JobStatus, JobTrigger, Status, SyncJob
from integrations.queries import integrations_for
from integrations.sync import jobs as sync_jobs
from integrations.sync.jobs import SyncRefused, queue_sync, upload_only_reason

NOT_FOUND = "No such integration."


def _instances(user):
    return integrations_for(user).annotate(
        has_credentials=Exists(Credential.objects.filter(integration=OuterRef("pk")))
    )


def _instance(request, pk):
    return _instances(request.user).filter(pk=pk).first()


def _problem(problem: Problem, status: int | None = None):
    if problem.kind == "not_connectable":
        return error(409, problem.message, code="not_connectable", remediation=problem.remediation)
    code = "invalid" if problem.kind == "validation" else "connection_failed"
    fields = problem.errors if len(problem.errors) > 1 else None
    return error(
        status or 400, problem.message, code=code, field=problem.field, remediation=problem.remediation, fields=fields
    )


def _settings_from(body: dict) -> dict | None:
    """{"name", "credentials": {...}, "config": {...}} -> the flat values the service validates."""
    credentials, config = body.get("credentials", {}), body.get("config", {})
    if not isinstance(credentials, dict) or not isinstance(config, dict):
        return None
    data = {**config, **credentials}
    for key in (connections.NAME_FIELD, connections.INTERVAL_FIELD):
        if key in body:
            data[key] = body[key]
    return data


def _workflows_json(workflows) -> list[dict]:
    return [{"id": w.pk, "name": w.name} for w in workflows]


@guarded
def integrations(request):
    """The catalogue (with how many of each the user has) and the user's own instances."""
    return listing.answer(request.user)


@guarded
def integration(request, pk):
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    return answer({"integration": integration_json(instance)})


@guarded
def delete_integration(request, pk):
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    delete_data = request.GET.get("delete_data", "").lower() in ("1", "true", "yes")
    deleted = instance.pk
    # May revoke at the provider: outside any transaction. The workflows using it pause on its signal.
    paused = lifecycle.delete(instance, delete_data=delete_data, through="the API")
    return answer({"deleted": deleted, "deleted_data": delete_data, "paused_workflows": _workflows_json(paused)})


@guarded
def update_integration(request, pk):
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    body = json_body(request)
    data = _settings_from(body) if body is not None else None
    if data is None:
        return error(400, 'The body must be a JSON object: {"name", "credentials": {...}, "config": {...}}.')
    try:
        connections.update(instance, data)
    except Problem as problem:
        return _problem(problem)
    return answer({"integration": integration_json(_instance(request, pk))})


@guarded
def connect(request, type_ref):
    """Connect a new instance of a type (by slug or id): validate, test the connection, then save."""
    itype = connections.type_by_ref(type_ref)
    if itype is None:
        return error(404, f"No integration type {type_ref!r}.")
    body = json_body(request)
    data = _settings_from(body) if body is not None else None
    if data is None:
        return error(400, 'The body must be a JSON object: {"name", "credentials": {...}, "config": {...}}.')
    if not str(data.get(connections.NAME_FIELD) or "").strip():
        data[connections.NAME_FIELD] = connections.default_name(request.user, itype)
    try:
        saved = connections.connect(request.user, itype, data)
    except Problem as problem:
        return _problem(problem)
    return answer({"integration": integration_json(_instance(request, saved.integration.pk))}, status=201)


@guarded
def disconnect(request, pk):
    """Keep the synced data, stop syncs, drop the credentials; pause the workflows that use it."""
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    paused = []
    if instance.status != Status.DISCONNECTED:
        for job in instance.sync_jobs.filter(status=JobStatus.QUEUED):
            sync_jobs.cancel(job)
        # May revoke at the provider: outside any transaction. The workflows using it pause on its signal.
        paused = lifecycle.disconnect(instance, through="the API")
    fresh = _instance(request, pk)
    return answer({"integration": integration_json(fresh), "paused_workflows": _workflows_json(paused)})


@guarded
def sync(request, pk):
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    if problem := upload_only_reason(instance):
        return error(409, problem, code="sync_refused")
    already = SyncJob.objects.filter(integration=instance, status__in=ACTIVE_JOB_STATUSES).exists()
    try:
        job = queue_sync(instance, trigger=JobTrigger.API)
    except SyncRefused as exc:
        return error(409, f"Cannot sync {instance.name}: {exc}", code="sync_refused")
    return answer({"job": job_json(job), "already_running": already}, status=200 if already else 202)


@guarded
def jobs(request, pk):
    instance = _instance(request, pk)
    if instance is None:
        return error(404, NOT_FOUND)
    return answer({"jobs": [job_json(j) for j in instance.sync_jobs.all()[:25]]})


@guarded
def job(request, job_id):
    found = SyncJob.objects.filter(integration__in=Integration.objects.for_user(request.user), pk=job_id).first()
    if found is None:
        return error(404, "No such job.")
    return answer({"job": job_json(found)})


@csrf_exempt  # answers 404 to every method; it never changes anything
def no_such_endpoint(request):
    return error(
        404,
        f"There is no API endpoint {request.method} {request.path[:200]}.",
        remediation="The endpoints are listed in the README (JSON API), e.g. GET /api/v1/integrations.",
    )
