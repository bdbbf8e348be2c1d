"""The integration routes of the JSON API on django-ninja (metacortex.api mounts this router and
authenticates every request first): the gallery and lifecycle operations, sync jobs, archive
uploads and imports. What each route does is in integrations.api.views and .uploads; here are the
paths, methods and the schemas of the OpenAPI document.

Each path also answers with a trailing slash (the slash form is left out of the document), and
any other method on it is a JSON 405 naming the allowed ones. Bodies are read as before (one
reader for the whole API, integrations.api.auth.json_body), so a wrong body keeps its own answer.
"""

from __future__ import annotations

import datetime
import inspect
import re
import uuid
from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema
from ninja.operation import Operation

from integrations.api import uploads, views
from integrations.api.auth import not_allowed

router = Router(tags=["integrations"])

# Every method a request may name; each path answers the ones it does not take with a JSON 405.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None
    remediation: str
    fields: dict | None = Field(None, description="Every wrong field, when several are")


class ErrorOut(Schema):
    error: ErrorDetail


class TypeOut(Schema):
    id: int
    slug: str
    name: str
    category: str
    domain: str
    description: str
    auth_kind: str
    available: bool
    state: str = Field(
        description="available (connect it), service (the other platform calls the hub: links.service explains "
        "how), coming_soon, or not_possible (unavailable_reason says why)"
    )
    unavailable_reason: str = Field(description="Why it can never be connected; empty unless not_possible")
    alternatives: list[dict] = Field(description='[{"label", "url"}]: other ways to the same data')
    connected: int | None
    icon: str
    fields: dict = Field(description='{"auth": [...], "settings": [...]}: the fields connect takes')
    imports_archives: bool
    links: dict


class IntegrationOut(Schema):
    id: int
    name: str
    type: str
    type_name: str
    status: str
    status_detail: str
    account_identity: str
    config: dict = Field(description="The settings, never a secret")
    sync_interval_minutes: int | None
    last_synced_at: datetime.datetime | None
    last_error: str
    consecutive_failures: int
    created_at: datetime.datetime
    links: dict
    item_count: int | None = None
    credentials_stored: bool | None = None


class JobOut(Schema):
    id: int
    integration: int
    kind: str
    status: str
    active: bool
    trigger: str
    queued_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    duration_seconds: float | None
    progress: dict
    counts: dict
    error: dict | None
    remediation: str
    links: dict


class WorkflowRef(Schema):
    id: int
    name: str


class Catalogue(Schema):
    types: list[TypeOut]
    integrations: list[IntegrationOut]


class OneIntegration(Schema):
    integration: IntegrationOut


class Deleted(Schema):
    deleted: int
    deleted_data: bool
    paused_workflows: list[WorkflowRef]


class Disconnected(Schema):
    integration: IntegrationOut
    paused_workflows: list[WorkflowRef]


class OneJob(Schema):
    job: JobOut


class Queued(Schema):
    job: JobOut
    already_running: bool


class Jobs(Schema):
    jobs: list[JobOut] = Field(description="The latest 25, newest first")


class UploadOut(Schema):
    id: str
    filename: str
    size: int
    offset: int
    percent: int
    status: str
    sha256: str | None
    detail: str
    type: str
    integration: int | None
    job: int | None
    keep_archive: bool
    expires_at: datetime.datetime | None
    links: dict


class OneUpload(Schema):
    upload: UploadOut


class UploadCreated(Schema):
    upload: UploadOut
    resumed: bool


class UploadDeleted(Schema):
    deleted: str


class ImportStarted(Schema):
    job: JobOut
    integration: int


def _json_body(description: str, properties: dict, required: tuple = ()) -> dict:
    """The document's request body: read by json_body, not by ninja, so each wrong body keeps the
    answer it always had (a field named, or how the body must look)."""
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return {"requestBody": {"description": description, "content": {"application/json": {"schema": schema}}}}


_OBJECT = {"type": "object", "additionalProperties": True}
SETTINGS_BODY = _json_body(
    "The name, the credentials and the settings; whatever is left out keeps its value (connect: its default).",
    {
        "name": {"type": "string"},
        "sync_interval_minutes": {"type": "integer"},
        "credentials": _OBJECT,
        "config": _OBJECT,
    },
)
_TARGET = {
    "type": {"type": "string", "description": "A type that imports archives (slug), for a new integration"},
    "integration": {"type": "integer", "description": "Or the integration to import into"},
}
UPLOAD_BODY = _json_body(
    "The archive to upload; the same fingerprint resumes an unfinished upload.",
    {**_TARGET, "filename": {"type": "string"}, "size": {"type": "integer"}, "fingerprint": {"type": "string"}},
    required=("filename", "size"),
)
IMPORT_BODY = _json_body(
    "The complete uploads to import, and where.",
    {
        **_TARGET,
        "uploads": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "name": {"type": "string"},
        "config": _OBJECT,
        "keep_archive": {"type": "boolean"},
    },
    required=("uploads",),
)
CHUNK_BODY = {
    "parameters": [
        {
            "name": "Content-Range",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "bytes START-END/SIZE, START being the upload's offset",
        }
    ],
    "requestBody": {
        "description": "One chunk of the archive, as raw bytes.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}
HEAD_ANSWER = {
    "responses": {
        200: {
            "description": "No body: the offset in Upload-Offset, the size in Upload-Length",
            "headers": {name: {"schema": {"type": "integer"}} for name in ("Upload-Offset", "Upload-Length")},
        }
    }
}


def route(methods: list[str], path: str, name: str, **options):
    """Register the view on path and on path + "/" (clients written against either keep working;
    only the first is in the document)."""

    def register(view):
        for method in methods:  # one operation each: an operationId names one method only
            operation_id = f"{view.__name__}_{method.lower()}" if len(methods) > 1 else None
            router.api_operation([method], path, url_name=name, operation_id=operation_id, **options)(view)
        router.api_operation(methods, f"{path}/", url_name=f"{name}-slash", include_in_schema=False, **options)(view)
        return view

    return register


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 405: ErrorOut, 409: ErrorOut}
INTEGRATION = "/integrations/{int:pk}"
UPLOAD = "/uploads/{uuid:upload_id}"


@route(
    ["GET"],
    "/integrations",
    "integrations",
    response={200: Catalogue, **ERRORS},
    summary="The catalogue and your integrations",
)
def integrations(request):
    return views.integrations(request)


@route(["GET"], INTEGRATION, "integration", response={200: OneIntegration, **ERRORS}, summary="One integration")
def integration(request, pk: int):
    return views.integration(request, pk)


@route(
    ["PATCH"],
    INTEGRATION,
    "integration",
    response={200: OneIntegration, **ERRORS},
    summary="Change an integration's name, credentials or settings (tested first)",
    openapi_extra=SETTINGS_BODY,
)
def update_integration(request, pk: int):
    return views.update_integration(request, pk)


@route(["DELETE"], INTEGRATION, "integration", response={200: Deleted, **ERRORS}, summary="Delete an integration")
def delete_integration(request, pk: int, delete_data: str | None = None):
    """delete_data=true also deletes what it synced; without it the synced data stays."""
    return views.delete_integration(request, pk)


@route(
    ["POST"],
    "/integrations/{slug:type_ref}/connect",
    "connect",
    response={201: OneIntegration, **ERRORS},
    summary="Connect a new integration of a type (slug or id): tested, then saved",
    openapi_extra=SETTINGS_BODY,
)
def connect(request, type_ref: str):
    return views.connect(request, type_ref)


@route(
    ["DELETE", "POST"],
    f"{INTEGRATION}/disconnect",
    "disconnect",
    response={200: Disconnected, **ERRORS},
    summary="Disconnect: keep the synced data, drop the credentials, pause its workflows",
)
def disconnect(request, pk: int):
    return views.disconnect(request, pk)


@route(
    ["POST"],
    f"{INTEGRATION}/sync",
    "sync",
    response={200: Queued, 202: Queued, **ERRORS},
    summary="Sync now: 202 with a new job, or 200 with the one already queued or running",
)
def sync(request, pk: int):
    return views.sync(request, pk)


@route(["GET"], f"{INTEGRATION}/jobs", "jobs", response={200: Jobs, **ERRORS}, summary="An integration's latest jobs")
def jobs(request, pk: int):
    return views.jobs(request, pk)


@route(["GET"], "/jobs/{int:job_id}", "job", response={200: OneJob, **ERRORS}, summary="One sync job")
def job(request, job_id: int):
    return views.job(request, job_id)


@route(
    ["POST"],
    "/uploads",
    "uploads",
    response={200: UploadCreated, 201: UploadCreated, 411: ErrorOut, 413: ErrorOut, **ERRORS},
    summary="Start an archive upload (201), or resume the unfinished one with its fingerprint (200)",
    openapi_extra=UPLOAD_BODY,
)
def create_upload(request):
    return uploads.create(request)


@route(["GET"], UPLOAD, "upload", response={200: OneUpload, **ERRORS}, summary="An upload's progress")
def upload_status(request, upload_id: uuid.UUID):
    return uploads.status(request, upload_id)


@route(["HEAD"], UPLOAD, "upload", response={**ERRORS}, summary="An upload's offset only", openapi_extra=HEAD_ANSWER)
def upload_offset(request, upload_id: uuid.UUID):
    return uploads.offset(request, upload_id)


@route(
    ["PUT", "PATCH"],
    UPLOAD,
    "upload",
    response={200: OneUpload, 411: ErrorOut, 413: ErrorOut, 416: ErrorOut, **ERRORS},
    summary="Send the next chunk (raw bytes with Content-Range)",
    openapi_extra=CHUNK_BODY,
)
def upload_chunk(request, upload_id: uuid.UUID):
    return uploads.chunk(request, upload_id)


@route(
    ["DELETE"],
    UPLOAD,
    "upload",
    response={200: UploadDeleted, **ERRORS},
    summary="Remove an upload not being imported",
)
def delete_upload(request, upload_id: uuid.UUID):
    return uploads.delete(request, upload_id)


@route(
    ["POST"],
    "/imports",
    "imports",
    response={202: ImportStarted, **ERRORS},
    summary="Import complete uploads: the import job",
    openapi_extra=IMPORT_BODY,
)
def start_import(request):
    return uploads.start_import(request)


def _taking_path(path: str, answer):
    """A view for the path's parameters (ninja matches them to its signature) that calls answer."""

    def view(request, **path_params):
        return answer(request, **path_params)

    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = re.findall(r"\{(?:\w+:)?(\w+)\}", path)
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for name in names]
    view.__signature__ = inspect.Signature([request, *params])
    return view


def _refusal(path: str, taken: frozenset):
    """A view answering 405 with the methods the path takes."""
    return _taking_path(path, lambda request, **path_params: not_allowed(request.method, taken))


class _HeadOperation(Operation):
    """A GET operation answering HEAD: the same checks, status and headers, without the body."""

    def run(self, request, **kw):
        response = super().run(request, **kw)
        if not response.streaming:  # (a file's length is in its own Content-Length; servers drop its body)
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response


def _head(get: Operation) -> Operation:
    head = get.clone()  # (mounting clones it again, as _HeadOperation, with the API's auth)
    head.__class__ = _HeadOperation
    head.methods, head.include_in_schema, head.operation_id = ["HEAD"], False, None
    return head


def _options(path: str, taken: frozenset):
    """OPTIONS: the methods the path takes, in Allow; no body, no credentials needed."""

    def options(request, **path_params):
        response = HttpResponse(status=204)
        response["Allow"] = ", ".join(sorted(taken))
        return response

    return _taking_path(path, options)


def refuse_other_methods(router: Router) -> None:
    """Every path answers OPTIONS with the methods it takes, and HEAD as its GET without the body;
    the other methods are a JSON 405 with Allow (ninja's own is plain text). Called once all of the
    router's routes are declared."""
    for path, view in list(router.path_operations.items()):
        taken = {method for operation in view.operations for method in operation.methods}
        get = next((operation for operation in view.operations if "GET" in operation.methods), None)
        if type(get) is Operation and "HEAD" not in taken:
            view.operations.append(_head(get))
            taken.add("HEAD")
        if "OPTIONS" not in taken:
            taken.add("OPTIONS")
            router.api_operation(["OPTIONS"], path, auth=None, include_in_schema=False)(
                _options(path, frozenset(taken))
            )
        others = [m for m in METHODS if m not in taken]
        if others:
            router.api_operation(others, path, include_in_schema=False)(_refusal(path, frozenset(taken)))


refuse_other_methods(router)
