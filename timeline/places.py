"""Places from coordinates (offline reverse geocoding, nothing downloaded at run time) and from
the names sources give. Points within RADIUS_M of a known place are that place, on either side of
the 180th meridian.

A name alone (a calendar LOCATION without GEO) is the place with coordinates of that name when one
is: known first by name, the place takes the coordinates once a record gives them. A name that
places far apart carry ("Home" in two cities) refers to neither: its records keep a place of
their own."""

from __future__ import annotations

import math

from django.utils import timezone

from timeline.models import Place

CELL = 0.001  # degrees: about 111 m of latitude
RADIUS_M = 150
COLUMNS = 360_000  # longitude cells around the globe (360 / CELL)
SAME_NAME_M = 1_000  # places of one name closer than this are taken for one place (GPS drift)


def _column(col: int) -> int:
    """A longitude cell on the globe: east of 180 degrees is west of -180 (Fiji, Chukotka)."""
    return (col + COLUMNS // 2) % COLUMNS - COLUMNS // 2


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL), _column(math.floor(lon / CELL))


def _cell_key(cell: tuple[int, int]) -> str:
    return f"{cell[0]}:{cell[1]}"


def distance_m(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(a)))


def _geocode(lat: float, lon: float) -> dict:
    import reverse_geocode  # ships GeoNames' cities over 1,000 people; no download

    try:
        found = reverse_geocode.get((lat, lon))
    except (ValueError, IndexError):
        return {}
    return {
        "locality": found.get("city") or "",
        "region": found.get("state") or "",
        "country": found.get("country") or "",
        "country_code": found.get("country_code") or "",
    }


def place_at(user_id: int, geo: dict, name: str = "", cache: dict | None = None) -> Place:
    lat, lon = geo["lat"], geo["lon"]
    row, col = cell_of(lat, lon)
    cache = {} if cache is None else cache
    known = cache.get((row, col))
    if known is not None and distance_m(lat, lon, known.lat, known.lon) <= RADIUS_M:
        if name:
            _add_name(known, name)
            _take_named(known, name, cache)
        return known
    # Longitude cells narrow towards the poles: widen the search so RADIUS_M is always covered.
    span = max(1, math.ceil(1 / max(math.cos(math.radians(lat)), 0.01)))
    cells = [_cell_key((row + dr, _column(col + dc))) for dr in (-1, 0, 1) for dc in range(-span, span + 1)]
    nearest, best = None, RADIUS_M
    for place in Place.objects.filter(user_id=user_id, cell__in=cells):
        d = distance_m(lat, lon, place.lat, place.lon)
        if d <= best:
            nearest, best = place, d
    if nearest is not None:
        if name:
            _add_name(nearest, name)
            _take_named(nearest, name, cache)
        cache[(row, col)] = nearest
        return nearest
    cache[(row, col)] = place = Place.objects.create(
        user_id=user_id,
        name=name[:300],
        names=[name[:300]] if name else [],
        lat=lat,
        lon=lon,
        cell=_cell_key((row, col)),
        **_geocode(lat, lon),
    )
    if name:
        _take_named(place, name, cache)
    return place


def _normal(name: str) -> str:
    return " ".join(str(name).split())[:300]


def _same_name(user_id: int, name: str):
    """The places with coordinates that carry this name, as a place is named (case ignored)."""
    return Place.objects.filter(user_id=user_id, name__iexact=name, lat__isnull=False)


def _one_place(places: list[Place]) -> bool:
    first = places[0]
    return all(distance_m(first.lat, first.lon, p.lat, p.lon) <= SAME_NAME_M for p in places[1:])


def _take_named(place: Place, name: str, cache: dict):
    """The place a record with coordinates calls `name` takes the place known only by that name,
    with its records, when no place elsewhere carries the name too."""
    name = _normal(name)
    checked = ("taken by name", place.pk, name.lower())  # once a batch: a location history names a place often
    if checked in cache:
        return
    cache[checked] = True
    located = [place, *_same_name(place.user_id, name).exclude(pk=place.pk)[:50]]
    if not _one_place(located):
        _give_back(place.user_id, name, located, cache)
        return
    named = Place.objects.filter(user_id=place.user_id, name__iexact=name, lat__isnull=True).order_by("pk").first()
    if named is None:
        return
    from timeline import links
    from timeline.models import Entity

    moved = list(Entity.objects.filter(place=named).values_list("pk", flat=True))
    Entity.objects.filter(pk__in=moved).update(place=place, updated_at=timezone.now())
    for other in named.names:
        _add_name(place, other)
    named.delete()
    links.same_place(place, moved)
    cache[name.lower()] = place
    if isinstance(cache, Cache):
        cache.moved.update(moved)


def _give_back(user_id: int, name: str, located: list[Place], cache: dict):
    """A name that places far apart carry refers to none of them: the records that gave only the
    name (no coordinates of their own) and were placed at one of them while it was the only place
    of that name go back to a place of the name alone."""
    from django.db.models import Q

    from timeline.models import Entity, Link, LinkReason

    by_name = Entity.objects.filter(place__in=located, deleted_at__isnull=True, fields__geo__isnull=True)
    back = [
        entity.pk
        for entity in by_name.only("pk", "fields")
        if not entity.fields.get("route") and _normal(_name_in(entity.fields)).lower() == name.lower()
    ]
    if not back:
        return
    named = Place.objects.filter(user_id=user_id, name__iexact=name, lat__isnull=True).order_by("pk").first()
    named = named or Place.objects.create(user_id=user_id, name=name, names=[name])
    Entity.objects.filter(pk__in=back).update(place=named, updated_at=timezone.now())
    for start in range(0, len(back), 500):
        chunk = back[start : start + 500]
        same = Link.objects.filter(reason=LinkReason.SAME_PLACE).filter(Q(source_id__in=chunk) | Q(target_id__in=chunk))
        same.delete()
    cache[name.lower()] = named
    if isinstance(cache, Cache):
        cache.moved.update(back)


def _name_in(fields: dict) -> str:
    """The name a record without coordinates is placed by (place_for)."""
    return str(fields.get("place_name") or fields.get("name") or fields.get("location") or "")


class Cache(dict):
    """What one batch found: places by grid cell and by name, and the records that moved to
    another place on the way (numbered as changes)."""

    def __init__(self):
        super().__init__()
        self.moved: set[int] = set()


def named_place(user_id: int, name: str, cache: dict | None = None) -> Place | None:
    """A place known only by the name a source gave (a calendar LOCATION without GEO)."""
    name = _normal(name)
    if not name or "://" in name or len(name) < 2:
        return None  # an online meeting link is not a place
    cache = {} if cache is None else cache
    if name.lower() not in cache:
        located = list(_same_name(user_id, name).order_by("pk")[:50])
        if located and _one_place(located):
            place = located[0]  # the name is that place
        else:  # no place with coordinates has the name, or places far apart do ("Home")
            place = Place.objects.filter(user_id=user_id, name__iexact=name, lat__isnull=True).first()
        cache[name.lower()] = place or Place.objects.create(user_id=user_id, name=name, names=[name])
    return cache[name.lower()]


def _add_name(place: Place, name: str):
    name = name[:300]
    if name in place.names:
        return
    place.names = [*place.names, name][:20]
    if not place.name:
        place.name = name
    place.save(update_fields=["names", "name"])


def place_for(user_id: int, typed, cache: dict | None = None) -> Place | None:
    fields = typed.fields
    name = fields.get("place_name") or fields.get("name") or ""
    geo = fields.get("geo")
    if not geo and isinstance(fields.get("route"), list) and fields["route"]:
        from connectors.kinds import geo as as_geo

        geo = as_geo(fields["route"][0])  # a workout is placed where it started
    if geo:
        return place_at(user_id, geo, name or (fields.get("location") or ""), cache)
    if typed.kind == "event" and fields.get("location"):
        return named_place(user_id, fields["location"], cache)
    if name and typed.kind in ("location_visit", "place"):
        return named_place(user_id, name, cache)
    return None
