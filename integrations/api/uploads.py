"""Archive uploads over the JSON API (the upload page's script uses the same routes with the
session and its CSRF header):

    POST   /api/v1/uploads              {"type" or "integration", "filename", "size", "fingerprint"}
    GET    /api/v1/uploads/{id}         status; HEAD answers the offset in Upload-Offset only
    PUT    /api/v1/uploads/{id}         one chunk, Content-Range: bytes START-END/SIZE (START = offset)
    DELETE /api/v1/uploads/{id}         remove an upload that is not being imported
    POST   /api/v1/imports              {"uploads": [...], "integration" or "type" + "name"/"config",
                                         "keep_archive"}: the import job (202)

Another user's upload is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpResponse
from django.urls import reverse

from integrations import connections
from integrations.api.auth import answer, error, guarded, json_body
from integrations.api.serialize import job_json
from integrations.connections import Problem
from integrations.models import AuthKind, Integration, JobTrigger, Upload, UploadStatus
from integrations.uploads import imports, receive
from integrations.uploads.problems import UploadProblem

NOT_FOUND = "No such upload."


def upload_json(upload: Upload) -> dict:
    return {
        "id": str(upload.pk),
        "filename": upload.filename,
        "size": upload.size,
        "offset": upload.offset,
        "percent": upload.percent,
        "status": upload.status,
        "sha256": upload.sha256 or None,
        "detail": upload.detail,
        "type": upload.type.slug,
        "integration": upload.integration_id,
        "job": upload.job_id,
        "keep_archive": upload.keep_archive,
        "expires_at": upload.expires_at,
        "links": {"self": reverse("api:upload", args=[upload.pk])},
    }


def _problem(problem: UploadProblem):
    return error(
        problem.status, problem.message, code=problem.code, field=problem.field, remediation=problem.remediation
    )


def _owned(request, upload_id) -> Upload | None:
    return Upload.objects.for_user(request.user).select_related("type").filter(pk=upload_id).first()


def _target(user, body: dict):
    """(type, integration or None) named by the body, or an error answer."""
    if body.get("integration") is not None:
        integration = (
            Integration.objects.for_user(user).select_related("type").filter(pk=_int(body["integration"])).first()
        )
        if integration is None:
            return None, None, error(404, "No such integration.")
        itype = integration.type
    else:
        itype = connections.type_by_ref(str(body.get("type") or ""))
        integration = None
        if itype is None:
            return None, None, error(404, "No such integration type.", field="type")
    if not imports.accepts_archives(itype):
        return None, None, error(404, f"{itype.display_name} does not import archives.", field="type")
    if integration is None and itype.auth_kind != AuthKind.ARCHIVE:
        return (
            None,
            None,
            error(
                409,
                f"Connect {itype.display_name} first, then import its export into that integration.",
                code="not_connectable",
                remediation='Send "integration": <id> instead of "type".',
            ),
        )
    return itype, integration, None


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e400 is infinity
        return 0


@guarded
def create(request):
    body = json_body(request)
    if body is None:
        return error(400, "Send a JSON object.")
    itype, integration, refused = _target(request.user, body)
    if refused:
        return refused
    try:
        upload, created = receive.create_upload(
            request.user,
            itype,
            filename=str(body.get("filename") or ""),
            size=body.get("size"),
            integration=integration,
            fingerprint=str(body.get("fingerprint") or ""),
        )
    except UploadProblem as problem:
        return _problem(problem)
    response = answer({"upload": upload_json(upload), "resumed": not created}, status=201 if created else 200)
    response["Location"] = reverse("api:upload", args=[upload.pk])
    response["Upload-Offset"] = str(upload.offset)
    return response


def _found(view):
    """The view, given the user's upload instead of its id; a 404 for anyone else's."""

    @wraps(view)
    def with_upload(request, upload_id):
        found = _owned(request, upload_id)
        if found is None:
            return error(404, NOT_FOUND)
        return view(request, found)

    return with_upload


@guarded
@_found
def status(request, found: Upload):
    response = answer({"upload": upload_json(found)})
    response["Upload-Offset"] = str(found.offset)
    return response


@guarded
@_found
def offset(request, found: Upload):
    """HEAD: the offset in Upload-Offset, no body."""
    response = HttpResponse(status=200)
    response["Upload-Offset"], response["Upload-Length"] = str(found.offset), str(found.size)
    response["Cache-Control"] = "no-store"
    return response


@guarded
@_found
def delete(request, found: Upload):
    try:
        imports.cancel(found)
    except UploadProblem as problem:
        return _problem(problem)
    return answer({"deleted": str(found.pk)})


@guarded
@_found
def chunk(request, found: Upload):
    """PUT (or PATCH): one chunk, the raw request body, at the offset its Content-Range names."""
    return _chunk(request, found)


def _chunk(request, found: Upload):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return error(411, "Send the chunk with its Content-Length.", code="length_required")
    header = request.headers.get("Content-Range")
    if header:
        parsed = receive.parse_content_range(header)
        if parsed is None or parsed[1] != length:
            return error(400, "Content-Range must be bytes START-END/SIZE and match the chunk's length.")
        start, _length, total = parsed
    elif request.headers.get("Upload-Offset", "").isdecimal():  # isdigit() takes "²", which int() refuses
        start, total = int(request.headers["Upload-Offset"]), None
    else:
        return error(400, "Say where the chunk goes: Content-Range: bytes START-END/SIZE.")
    try:
        stored = receive.receive_chunk(found, start=start, length=length, stream=request, total=total)
    except UploadProblem as problem:
        response = _problem(problem)
        offset = Upload.objects.filter(pk=found.pk).values_list("offset", flat=True).first()
        if offset is not None:  # None: removed meanwhile
            response["Upload-Offset"] = str(offset)
        return response
    if stored.status == UploadStatus.COMPLETE:
        stored = imports.check_complete_upload(stored)
    response = answer({"upload": upload_json(stored)})
    response["Upload-Offset"] = str(stored.offset)
    return response


@guarded
def start_import(request):
    body = json_body(request)
    if body is None:
        return error(400, "Send a JSON object.")
    itype, integration, refused = _target(request.user, body)
    if refused:
        return refused
    ids = body.get("uploads")
    if not isinstance(ids, list):
        return error(400, 'List the uploads to import: "uploads": [id, ...].', field="uploads")
    data = None
    if integration is None:
        config = body.get("config", {})
        if not isinstance(config, dict):
            return error(400, "config must be an object.", field="config")
        data = {**config, **{k: body[k] for k in (connections.NAME_FIELD, connections.INTERVAL_FIELD) if k in body}}
        data.setdefault(connections.NAME_FIELD, connections.default_name(request.user, itype))
    try:
        job = imports.start_import(
            request.user,
            ids,
            integration=integration,
            itype=itype,
            settings_data=data,
            keep_archive=bool(body.get("keep_archive")),
            trigger=JobTrigger.API,
        )
    except UploadProblem as problem:
        return _problem(problem)
    except Problem as problem:
        fields = problem.errors if len(problem.errors) > 1 else None
        return error(400, problem.message, field=problem.field, remediation=problem.remediation, fields=fields)
    return answer({"job": job_json(job), "integration": job.integration_id}, status=202)
