"""The timeline pages: a day or week over all sources (filtered by kind, source, place and person),
search across everything, and the pages of one record, one place and one person. Times are shown
in the person's own time zone (the active time zone of the request)."""

from __future__ import annotations

import datetime
import mimetypes
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Count, F, Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_safe

from connectors.kinds import KINDS
from connectors.zones import zone_named
from integrations import keyset
from integrations.models import Category, Integration
from integrations.views.common import push_clean_url, render_page
from timeline import search
from timeline.models import DataExport, Entity, EntitySource, ExportStatus, Link, Person, Place

SEARCH_PAGE = 50
SEARCH_CAP = 1000
ALL_DAY_SLACK = datetime.timedelta(hours=14)  # the widest UTC offset
PLACE_PAGE = 50
DAY_PAGE = 200  # a day's or a week's records, 200 at a time ("Later")
RECORD_LIST = 100  # a record page shows the first 100 linked records and people, and how many in all
NEVER = datetime.datetime.max.replace(tzinfo=datetime.UTC)
COUNT_CAP = 1000  # a place's or a person's records are counted up to "1,000+", whatever their number


# The days a page can show: a week and its neighbours, read a zone's width wider, must still be
# dates (a "never" record sits on 9999-12-31, and a zeroed clock gives year 1).
FIRST_DAY, LAST_DAY = datetime.date(1, 1, 16), datetime.date(9999, 12, 16)


def _day(value: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return timezone.localdate()
    return min(max(day, FIRST_DAY), LAST_DAY)


def _window(day: datetime.date, view: str) -> tuple[datetime.datetime, datetime.datetime, datetime.date, datetime.date]:
    first = day - datetime.timedelta(days=day.weekday()) if view == "week" else day
    last = first + datetime.timedelta(days=7 if view == "week" else 1)
    zone = timezone.get_current_timezone()
    start = datetime.datetime.combine(first, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(last, datetime.time(), tzinfo=zone)
    return start, end, first, last


def _int(value) -> int | None:
    """A filter's id from the query string, or None (a number no database id can be is no filter)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


@require_safe
@login_required
def timeline(request):
    view = "week" if request.GET.get("view") == "week" else "day"
    day = _day(request.GET.get("date"))
    q = request.GET.get("q", "").strip()[:200]
    kind = request.GET.get("kind", "")
    source, place_id, person_id = (_int(request.GET.get(k)) for k in ("source", "place", "person"))
    entities = Entity.objects.filter(user=request.user, deleted_at__isnull=True).select_related("place")
    if kind in KINDS:
        entities = entities.filter(kind=kind)
    if source:
        entities = entities.filter(sources__item__integration_id=source)
    if place_id:
        entities = entities.filter(place_id=place_id)
    if person_id:
        entities = entities.filter(entityperson__person_id=person_id)
    older_cursor = later_cursor = None
    count, count_capped = 0, False
    if q:
        # Search looks through everything, newest first, a page at a time ("older than").
        # The full-text index names the matches first (at most SEARCH_CAP + 1 ids, unordered);
        # up to the cap the pages read those by primary key, instead of walking the time index and
        # testing every record of the person, which is all of them when few or none match.
        matched = search.matching(entities, q)
        found = list(matched.order_by().values_list("pk", flat=True).distinct()[: SEARCH_CAP + 1])
        entities = entities.filter(pk__in=found) if len(found) <= SEARCH_CAP else matched
        count, count_capped = min(len(found), SEARCH_CAP), len(found) > SEARCH_CAP
        entities, older_cursor = _older_page(entities.distinct(), request.GET.get("cursor"), "search", SEARCH_PAGE)
        entities.sort(key=lambda e: (e.start_at is None, e.start_at or timezone.now()), reverse=False)
        start = end = None
        first = last = None
    else:
        start, end, first, last = _window(day, view)
        entities, later_cursor, count = _day_page(entities, start, end, first, last, request.GET.get("cursor"))
    _annotate(entities)
    step = datetime.timedelta(days=7 if view == "week" else 1)
    # The other days keep the filters; built here because the links are swapped in with the results.
    kept = {
        "view": view,
        "kind": kind if kind in KINDS else "",
        "source": source,
        "place": place_id,
        "person": person_id,
    }
    kept = {key: value for key, value in kept.items() if value}
    context = {
        "entities": entities,
        "view": view,
        "day": day,
        "first": first,
        "last": (last - datetime.timedelta(days=1)) if last else None,
        "previous": "?" + urlencode({"date": (day - step).isoformat(), **kept}),
        "next": "?" + urlencode({"date": (day + step).isoformat(), **kept}),
        "today_url": "?" + urlencode(kept),
        "today": timezone.localdate(),
        "q": q,
        "kind": kind,
        "kinds": [(k.key, k.label) for k in KINDS.values()],
        "source": source,
        # Only what brings records in: a Slack or webhook output would be a filter that always shows nothing.
        "sources": Integration.objects.for_user(request.user)
        .filter(type__category__in=[Category.SOURCE, Category.BOTH])
        .order_by("name")
        .only("pk", "name"),
        "place": Place.objects.filter(user=request.user, pk=place_id).first() if place_id else None,
        "person": Person.objects.filter(user=request.user, pk=person_id).first() if person_id else None,
        "older_cursor": older_cursor,
        "later_cursor": later_cursor,
        "count": count,
        "count_capped": count_capped,
        "timezone_name": timezone.get_current_timezone_name(),
    }
    response = render_page(request, "timeline/timeline.html", "timeline/_results.html", context, htmx_target="results")
    return push_clean_url(request, response)


def _day_page(entities, start, end, first, last, cursor: str | None) -> tuple[list[Entity], str | None, int]:
    """A day's or a week's records earliest first, DAY_PAGE at a time after the cursor's position
    ((start_at, id), so records of the same second never repeat or go missing between pages); the
    cursor of the next (later) page; and how many records the day or week holds.

    All-day records are dates, not instants: stored at UTC midnight, they belong to their own date
    in every time zone. They are read a zone's width wider and kept on their own local day; every
    other record is in the window by its time (so only other days' all-day records are read and
    dropped, never the neighbouring days' records)."""
    slack = Q(fields__all_day=True, start_at__gte=start - ALL_DAY_SLACK, start_at__lt=end + ALL_DAY_SLACK)
    timed = Q(start_at__gte=start, start_at__lt=end)
    window = entities.filter(timed | slack).order_by("start_at", "pk").distinct()
    position = keyset.decode(cursor, "timeline-day")
    after = (position.at, position.pk) if position and position.direction == keyset.NEWER and position.at else None
    rows: list[Entity] = []
    while len(rows) <= DAY_PAGE:
        read = window
        if after is not None:
            read = read.filter(Q(start_at__gte=after[0]), Q(start_at__gt=after[0]) | Q(pk__gt=after[1]))
        wanted = DAY_PAGE + 1 - len(rows)
        batch = list(read[:wanted])
        rows += [e for e in batch if first <= local_day(e) < last]  # drops only other days' all-day records
        if len(batch) < wanted:
            break
        after = (batch[-1].start_at, batch[-1].pk)
    later = None
    if len(rows) > DAY_PAGE:
        rows = rows[:DAY_PAGE]
        later = keyset.encode(keyset.newer_than(rows[-1], "start_at"), "timeline-day")
    all_day = window.filter(slack).select_related(None).only("start_at", "fields")
    count = entities.filter(timed).order_by().distinct().count()
    count += sum((first <= local_day(e) < last) - (start <= e.start_at < end) for e in all_day)
    return rows, later, count


def _older_page(entities, cursor: str | None, scope: str, size: int) -> tuple[list[Entity], str | None]:
    """A page of live records newest first, older than the cursor's position (integrations.keyset:
    (start_at, id) descending on the (user, start_at, id) index, undated records last); a cursor
    that is not one these pages gave out starts again at the top. Answers the rows and the cursor
    of the next (older) page."""
    scope = f"timeline-{scope}"
    position = keyset.decode(cursor, scope)
    if position is not None and position.direction != keyset.OLDER:
        position = None
    at, pk = (position.at, position.pk) if position else (None, None)
    rows = keyset.older(entities, "start_at", at, pk, size + 1)
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, keyset.encode(keyset.older_than(rows[-1], "start_at"), scope)


def in_own_zone(entity: Entity) -> str:
    """'14:00 Europe/Zurich' when the record's own zone differs from the person's; '' when it is the
    same, for all-day records, and when the source named a zone this server does not know."""
    fields = entity.fields or {}
    name = fields.get("timezone")
    if not entity.start_at or fields.get("all_day") or not name or name == timezone.get_current_timezone_name():
        return ""
    zone = zone_named(str(name))
    if zone is None:
        return ""
    return f"{entity.start_at.astimezone(zone):%H:%M} {name}"


def local_day(entity: Entity) -> datetime.date | None:
    if entity.start_at is None:
        return None
    if (entity.fields or {}).get("all_day") and isinstance(entity.fields.get("start"), str):
        try:
            return datetime.date.fromisoformat(entity.fields["start"][:10])
        except ValueError:
            pass
    return timezone.localtime(entity.start_at).date()


def _annotate(entities: list[Entity]):
    """Source and link counts for a page of entities, in two queries."""
    ids = [e.pk for e in entities]
    sources = dict(Entity.objects.filter(pk__in=ids).annotate(n=Count("sources")).values_list("pk", "n"))
    linked = Link.objects.filter(Q(source_id__in=ids) | Q(target_id__in=ids)).values_list("source_id", "target_id")
    links: dict[int, int] = {}
    for a, b in linked:
        links[a] = links.get(a, 0) + 1
        links[b] = links.get(b, 0) + 1
    for entity in entities:
        entity.source_count = sources.get(entity.pk, 0)
        entity.link_count = links.get(entity.pk, 0)
        entity.kind_label = KINDS.get(entity.kind, KINDS["other"]).label
        entity.display_date = local_day(entity)
        entity.own_zone = in_own_zone(entity)


@require_safe
@login_required
def record(request, pk):
    entity = get_object_or_404(Entity.objects.filter(user=request.user).select_related("place"), pk=pk)
    sources = entity.sources.select_related("item__integration__type").order_by("pk")
    links, link_count = _linked(entity)
    people = entity.entityperson_set.select_related("person").order_by("role", "person__name", "pk")
    entity.display_date = local_day(entity)
    entity.own_zone = in_own_zone(entity)
    context = {
        "entity": entity,
        "kind_label": KINDS.get(entity.kind, KINDS["other"]).label,
        "sources": sources,
        "links": links,
        "link_count": link_count,
        "people": people[:RECORD_LIST],
        "people_count": people.count(),
        "photo": _photo_source(entity),
        "facts": facts(entity),
    }
    return render_page(request, "timeline/record.html", None, context)


def _linked(entity: Entity) -> tuple[list[tuple[Link, Entity]], int]:
    """The first RECORD_LIST live records linked to the entity (either side), soonest first and
    undated last, each with its link; and how many there are in all."""
    out = Link.objects.filter(source=entity, target__deleted_at__isnull=True).select_related("target")
    into = Link.objects.filter(target=entity, source__deleted_at__isnull=True).select_related("source")

    def soonest(side: str):
        return F(f"{side}__start_at").asc(nulls_last=True), f"{side}__id"

    rows = [(link, link.target) for link in out.order_by(*soonest("target"))[:RECORD_LIST]]
    rows += [(link, link.source) for link in into.order_by(*soonest("source"))[:RECORD_LIST]]
    rows.sort(key=lambda row: (row[1].start_at is None, row[1].start_at or NEVER, row[1].pk))
    return rows[:RECORD_LIST], out.count() + into.count()


# Shown elsewhere on the record page: the time in its head, the place and the people in their own
# sections (a coordinate pair or a list of addresses says nothing more there).
SHOWN_APART = {"start", "end", "geo", "organizer", "attendees", "from", "to", "cc"}


def facts(entity: Entity) -> list[tuple[str, str]]:
    """The record's other typed fields as (name, readable text), empty ones left out."""
    shown = []
    for name, value in (entity.fields or {}).items():
        text = readable(value)
        if name not in SHOWN_APART and text:
            shown.append((name.replace("_", " "), text))
    return shown


def readable(value) -> str:
    """A field's value as a person reads it: "Ann <ann@example.com>", "47.37218, 8.53538", "yes";
    never a Python repr of a dict or a list."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        lat, lon = value.get("lat"), value.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return f"{lat:.5f}, {lon:.5f}"
        if "email" in value or "name" in value:
            name, email = value.get("name") or "", value.get("email") or ""
            return f"{name} <{email}>" if name and email else name or email
        return ", ".join(f"{k}: {readable(v)}" for k, v in value.items() if readable(v))
    if isinstance(value, list | tuple):
        return ", ".join(text for text in (readable(v) for v in value) if text)
    return "" if value is None else str(value)


def _photo_source(entity: Entity):
    return _photo_sources([entity]).get(entity.pk)


def _photo_sources(entities) -> dict:
    """The stored image file of each photo among the entities ({entity id: its source item}), for a
    whole page in one query."""
    ids = [e.pk for e in entities if e.kind == "photo"]
    if not ids:
        return {}
    found = {}
    for source in EntitySource.objects.filter(entity_id__in=ids).select_related("item").order_by("pk"):
        data = source.item.data or {}
        if data.get("file") and (data.get("mime_type") or "").startswith("image/"):
            found.setdefault(source.entity_id, source.item)
    return found


@require_safe
@login_required
def place(request, pk):
    place = get_object_or_404(Place, user=request.user, pk=pk)
    entities = Entity.objects.filter(user=request.user, place=place, deleted_at__isnull=True)
    page, older_cursor = _older_page(entities, request.GET.get("cursor"), "place", PLACE_PAGE)
    for entity in page:
        entity.place = place  # each row links to it: read once, not once a row
    _annotate(page)
    with_image = _photo_sources(page)
    thumbnail = next((e for e in page if e.pk in with_image), None)
    count, capped = keyset.capped_count(entities, COUNT_CAP)
    context = {
        "place": place,
        "entities": page,
        "older_cursor": older_cursor,
        "thumbnail": thumbnail,
        "count": count,
        "count_capped": capped,
    }
    return render_page(request, "timeline/place.html", None, context)


@require_safe
@login_required
def person(request, pk):
    person = get_object_or_404(Person, user=request.user, pk=pk)
    entities = Entity.objects.filter(
        user=request.user, entityperson__person=person, deleted_at__isnull=True
    ).select_related("place")
    count, capped = keyset.capped_count(entities.distinct(), COUNT_CAP)
    entities, older_cursor = _older_page(entities.distinct(), request.GET.get("cursor"), "person", PLACE_PAGE)
    _annotate(entities)
    context = {
        "person": person,
        "entities": entities,
        "older_cursor": older_cursor,
        "count": count,
        "count_capped": capped,
    }
    return render_page(request, "timeline/person.html", None, context)


# The type of a photo's file comes from its source (the Picker's mimeType, a file's extension). These
# are shown inline; any other (image/svg+xml above all, which runs as a document when opened) is a
# download, so no file a source supplied becomes a page of the hub's origin.
INLINE_IMAGE_TYPES = {
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif", "image/bmp",
    "image/tiff",
}  # fmt: skip
# Whatever the file turns out to be, opened on its own it runs nothing: no script, plugin or form.
FILE_POLICY = "default-src 'none'; img-src 'self'; frame-ancestors 'none'; sandbox"


@require_safe
@login_required
def photo(request, pk):
    """A photo's stored file, for its owner only (never under a public media URL)."""
    entity = get_object_or_404(Entity, user=request.user, pk=pk)
    item = _photo_source(entity)
    if item is None or item.user_id != request.user.pk:
        raise Http404("No photo file")
    name = item.data["file"]
    try:
        handle = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The photo file is no longer stored") from exc
    content_type = (item.data.get("mime_type") or mimetypes.guess_type(name)[0] or "").lower()
    if content_type in INLINE_IMAGE_TYPES:
        response = FileResponse(handle, content_type=content_type)
        response["Content-Disposition"] = "inline"
    else:
        response = FileResponse(handle, content_type="application/octet-stream")
        response["Content-Disposition"] = "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_POLICY
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def export_start(request):
    """GET: what the export holds; POST: start one (or show the one running)."""
    from django.shortcuts import redirect

    from timeline.exports import start_export

    if request.method == "POST":
        export, _ = start_export(request.user)
        return redirect("timeline:export", pk=export.pk)
    latest = DataExport.objects.filter(user=request.user).first()
    return render_page(request, "timeline/export_start.html", None, {"latest": latest})


@require_safe
@login_required
def export_status(request, pk):
    export = get_object_or_404(DataExport, user=request.user, pk=pk)
    return render_page(
        request,
        "timeline/export.html",
        "timeline/_export_progress.html",
        {"export": export},
        htmx_target=f"export-{pk}",
    )


@require_safe
@login_required
def export_download(request, pk):
    export = get_object_or_404(DataExport, user=request.user, pk=pk, status=ExportStatus.READY)
    try:
        handle = default_storage.open(export.file, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The export file is gone; start a new export") from exc
    return FileResponse(handle, as_attachment=True, filename=export.file.rsplit("/", 1)[-1])
