"""Places from coordinates (offline reverse geocoding, nothing downloaded at run time) and from
the names sources give. Points within RADIUS_M of a known place are that place."""

from __future__ import annotations

import math

from timeline.models import Place

CELL = 0.001  # degrees: about 111 m of latitude
RADIUS_M = 150


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL), math.floor(lon / CELL)


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
        return known
    # Longitude cells narrow towards the poles: widen the search so RADIUS_M is always covered.
    span = max(1, math.ceil(1 / max(math.cos(math.radians(lat)), 0.01)))
    cells = [_cell_key((row + dr, col + dc)) for dr in (-1, 0, 1) for dc in range(-span, span + 1)]
    nearest, best = None, RADIUS_M
    for place in Place.objects.filter(user_id=user_id, cell__in=cells):
        d = distance_m(lat, lon, place.lat, place.lon)
        if d <= best:
            nearest, best = place, d
    if nearest is not None:
        if name:
            _add_name(nearest, name)
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
    return place


def named_place(user_id: int, name: str, cache: dict | None = None) -> Place | None:
    """A place known only by the name a source gave (a calendar LOCATION without GEO)."""
    name = " ".join(name.split())[:300]
    if not name or "://" in name or len(name) < 2:
        return None  # an online meeting link is not a place
    cache = {} if cache is None else cache
    if name.lower() not in cache:
        place = Place.objects.filter(user_id=user_id, name__iexact=name).first()
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
