"""Google Location History (Timeline) from Google Takeout or from the Google Maps app, in all its
shapes, as `location_visit` records:

- Records.json (Takeout, until 2024): every raw position, {"locations": [{"latitudeE7",
  "longitudeE7", "accuracy", "timestamp" or (older) "timestampMs"}, ...]}. Hundreds of thousands of
  points are no records one by one: consecutive points within CLUSTER_RADIUS_M (100 m) of their
  running centre for at least MIN_STAY (10 minutes) become one visit (start, end, centre, point
  count); points less precise than MAX_ACCURACY_M are left out (a cell-tower fix would split a
  stay in two), and so is movement between stays (the semantic files describe it). A Takeout that
  also holds the semantic files describes the same stays there, with their places: the source
  option group_raw_points (on by default) can be turned off to import only those.
- Semantic Location History month files (Takeout, "2022_JANUARY.json"): {"timelineObjects":
  [{"placeVisit": ...}, {"activitySegment": ...}]}. A placeVisit gives place_name, address,
  provider_place_id (Google's placeId); an activitySegment gives activity, distance_m and the
  start and end geo (geo is where it starts).
- The on-device Timeline export (Maps app settings, since 2024): Android's {"semanticSegments":
  [visit | activity | timelinePath segments], "rawSignals": [position | wifiScan | activityRecord]}
  with "48.1°, 11.5°" coordinates, and iOS's top-level array of the same segments with
  "geo:48.1,11.5" coordinates and numbers as strings. Visits and activities are read like the
  semantic ones; raw positions are grouped like Records.json; timelinePath segments (the points of
  a route already described by its activity) are left out.

Files are streamed (ijson) one object at a time, so a 200 MB Records.json needs little memory.
A Records.json (a top-level object whose head names "locations" and none of the other shapes) is
read on a fast path: ijson's C backend builds each position (ijson.items on "locations.item"), and
the grouping (Stays.add_at, inlined in read) works on plain floats, without a dict or a haversine
per point (within_radius), reading "...Z" times with fromisoformat and keeping a timestampMs as its
string until a visit closes (moment). It gives exactly the visits, errors and notices of the
general path, which reads every other shape (a test compares the two on awkward generated files).
Visits are keyed by Google's placeId and their start time, movements by their start and end time,
grouped raw points by their first point's time: a visit found in both an old Takeout and a newer
on-device export is stored once, and importing a file again adds nothing.
"""

from __future__ import annotations

import datetime
import io
import math

import ijson

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.google_takeout import common
from connectors.registry import registry

CLUSTER_RADIUS_M = 100
MIN_STAY_S = 10 * 60
MAX_ACCURACY_M = 200
PREFIXES = {"locations.item", "timelineObjects.item", "semanticSegments.item", "rawSignals.item", "item"}
MARKERS = ('"timelineObjects"', '"semanticSegments"', '"rawSignals"')
ACTIVITIES = {
    "in_passenger_vehicle": "driving",
    "in_vehicle": "driving",
    "in_road_vehicle": "driving",
    "in_car": "driving",
    "on_bicycle": "cycling",
    "on_foot": "walking",
    "in_bus": "bus",
    "in_train": "train",
    "in_rail_vehicle": "train",
    "in_subway": "subway",
    "in_tram": "tram",
    "in_ferry": "ferry",
    "in_taxi": "taxi",
    "unknown_activity_type": "",
}


def distance_m(a: dict, b: dict) -> float:
    """Great-circle distance (haversine) between two {"lat", "lon"}."""
    return haversine_m(a["lat"], a["lon"], b["lat"], b["lon"])


EARTH_RADIUS_M = 6_371_000
_RADIANS = math.pi / 180


def haversine_m(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    lat1, lat2 = math.radians(lat_a), math.radians(lat_b)
    dlat, dlon = lat2 - lat1, math.radians(lon_b - lon_a)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# The clustering decision, "within CLUSTER_RADIUS_M of the centre?", without a haversine per point:
# the great-circle distance is at least EARTH_RADIUS_M * |latitude difference|, so a point further
# north or south than _LAT_FAR degrees is outside; otherwise, for points less than _LON_NEAR degrees
# of longitude apart away from the poles, the equirectangular approximation
# R * sqrt(dlat^2 + (cos(mean latitude) * dlon)^2) differs from the haversine by less than a
# millionth at these distances (~1e-10 relative from sin x ~ x, and sin^2(dlat / 2) / cos^2(mean)
# from cos(mean)^2 against cos(lat1) * cos(lat2)): it decides when it is more than _MARGIN_M from the
# radius, and the haversine decides the rest (a point within 10 cm of the radius, a jump across the
# antimeridian, a stay at a pole). The visits are exactly those of the haversine.
_MARGIN_M = 0.1
_LAT_FAR = (CLUSTER_RADIUS_M + _MARGIN_M) / (EARTH_RADIUS_M * _RADIANS)
_LON_NEAR = 0.01
_NEAR2 = ((CLUSTER_RADIUS_M - _MARGIN_M) / (EARTH_RADIUS_M * _RADIANS)) ** 2  # in degrees squared
_FAR2 = ((CLUSTER_RADIUS_M + _MARGIN_M) / (EARTH_RADIUS_M * _RADIANS)) ** 2


def within_radius(lat_c: float, lon_c: float, lat: float, lon: float) -> bool:
    """haversine_m(centre, point) <= CLUSTER_RADIUS_M, cheaply (see above)."""
    dlat = lat - lat_c
    if dlat > _LAT_FAR or dlat < -_LAT_FAR:
        return False
    dlon = lon - lon_c
    if -_LON_NEAR < dlon < _LON_NEAR and -89 < lat_c < 89:
        dx = math.cos((lat + lat_c) * (_RADIANS / 2)) * dlon
        d2 = dlat * dlat + dx * dx
        if d2 < _NEAR2:
            return True
        if d2 > _FAR2:
            return False
    return haversine_m(lat_c, lon_c, lat, lon) <= CLUSTER_RADIUS_M


def activity_name(value) -> str:
    name = str(value or "").strip().lower()
    return ACTIVITIES.get(name, name)


EMPTY_NAMES = {"records.json", "timeline.json", "location-history.json", "standortverlauf.json"}
MONTH_FILE = r"\d{4}_[^\W\d_]+\.json"  # 2022_JANUARY.json, 2022_JANUAR.json


def is_location_history(member: archives.Member) -> bool:
    if common.empty_export_file(member, EMPTY_NAMES, MONTH_FILE):
        return True
    if not common.data_file(member, (".json",)):
        return False
    text = common.head_text(member)
    if any(marker in text for marker in MARKERS):
        return True
    if '"locations"' in text and "latitudeE7" in text:
        return True
    # iOS: a top-level array of segments with geo: coordinates.
    return text.startswith("[") and '"startTime"' in text and "geo:" in text


class Stays:
    """Groups raw positions into visits (see the module docstring). Only the current stay's first
    and last time, point count and running centre are kept: a week at home is five numbers."""

    def __init__(self, source: str):
        self.source = source
        self.start = self.end = None
        self.lat = self.lon = 0.0
        self.count = 0

    def add(self, moment, point: dict) -> dict | None:
        """The visit the point closes, if any."""
        return self.add_at(moment, point["lat"], point["lon"])

    def add_at(self, moment, lat: float, lon: float) -> dict | None:
        if self.count:
            if moment < self.end:
                return None  # out of order: an echo of an earlier fix
            if within_radius(self.lat, self.lon, lat, lon):
                count = self.count = self.count + 1
                self.end = moment
                self.lat += (lat - self.lat) / count
                self.lon += (lon - self.lon) / count
                return None
        closed = self.close()
        self.start = self.end = moment
        self.lat, self.lon, self.count = lat, lon, 1
        return closed

    def close(self) -> dict | None:
        if not self.count:
            return None
        start, end, points, lat, lon = moment(self.start), moment(self.end), self.count, self.lat, self.lon
        self.start = self.end = None
        self.count = 0
        if (end - start).total_seconds() < MIN_STAY_S:
            return None
        return {
            "id": archives.content_id("google-stay", common.id_time(start)),
            "start": common.iso(start),
            "end": common.iso(end),
            "geo": {"lat": round(lat, 7), "lon": round(lon, 7)},
            "place_name": "",
            "address": "",
            "provider_place_id": "",
            "activity": "",
            "distance_m": None,
            "point_count": points,
            "source": self.source,
        }


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _visit(start, end, place: dict, source: str, **extra) -> dict:
    place_id = place.get("placeId") or place.get("placeID") or ""
    point = place.get("geo")
    key = f"{place_id}|{common.id_time(start)}" if place_id else f"{point}|{common.id_time(start)}"
    return {
        "id": archives.content_id("google-visit", key),
        "start": common.iso(start),
        "end": common.iso(end),
        "geo": point,
        "place_name": place.get("name") or "",
        "address": place.get("address") or "",
        "provider_place_id": place_id,
        "activity": "",
        "distance_m": None,
        "source": source,
        **{k: v for k, v in extra.items() if v not in (None, "", {})},
    }


def _movement(start, end, activity, distance, start_geo, end_geo, source: str, **extra) -> dict:
    return {
        "id": archives.content_id("google-move", common.id_time(start), common.id_time(end) if end else ""),
        "start": common.iso(start),
        "end": common.iso(end),
        "geo": start_geo,
        "start_geo": start_geo,
        "end_geo": end_geo,
        "place_name": "",
        "address": "",
        "provider_place_id": "",
        "activity": activity_name(activity),
        "activity_type": str(activity or ""),
        "distance_m": _number(distance),
        "source": source,
        **{k: v for k, v in extra.items() if v not in (None, "", {})},
    }


def _rest(obj: dict, *mapped: str) -> dict:
    """What else the source says about a visit or movement (confidences, candidate places, waypoints),
    kept in data["google"] as Google wrote it."""
    return {k: v for k, v in obj.items() if k not in mapped}


class BadTime(ValueError):
    pass


def _times(obj: dict, start_keys, end_keys):
    start_value = next((obj[k] for k in start_keys if obj.get(k) is not None), None)
    end_value = next((obj[k] for k in end_keys if obj.get(k) is not None), None)
    start, end = common.parse_time(start_value), common.parse_time(end_value)
    if start is None:
        raise BadTime(f"the start time {str(start_value)[:40]!r} is not a date the hub can read")
    return start, end


STARTS, ENDS = ("startTimestamp", "startTimestampMs"), ("endTimestamp", "endTimestampMs")


def semantic(obj: dict) -> dict | None:
    """A timelineObjects entry of the Semantic Location History."""
    if isinstance(obj.get("placeVisit"), dict):
        visit = obj["placeVisit"]
        location = visit.get("location") or {}
        start, end = _times(visit.get("duration") or {}, STARTS, ENDS)
        centre = {"latitudeE7": visit.get("centerLatE7"), "longitudeE7": visit.get("centerLngE7")}
        place = {**location, "geo": common.geo_e7(location) or common.geo_e7(centre)}
        extra = {
            "semantic_type": location.get("semanticType"),
            "place_confidence": visit.get("placeConfidence"),
            "google": _rest(visit, "location", "duration"),
        }
        return _visit(start, end, place, "semantic", **extra)
    if isinstance(obj.get("activitySegment"), dict):
        segment = obj["activitySegment"]
        start, end = _times(segment.get("duration") or {}, STARTS, ENDS)
        ends = common.geo_e7(segment.get("startLocation")), common.geo_e7(segment.get("endLocation"))
        extra = {
            "confidence": segment.get("confidence"),
            "google": _rest(segment, "duration", "startLocation", "endLocation", "distance", "activityType"),
        }
        return _movement(start, end, segment.get("activityType"), segment.get("distance"), *ends, "semantic", **extra)
    return None


def timeline_segment(obj: dict, source: str) -> dict | None:
    """A semanticSegments entry (Android) or an item of the iOS array."""
    if isinstance(obj.get("visit"), dict):
        start, end = _times(obj, ("startTime",), ("endTime",))
        candidate = obj["visit"].get("topCandidate") or {}
        place = {
            "placeId": candidate.get("placeId") or candidate.get("placeID"),
            "geo": common.geo_text(candidate.get("placeLocation")),
        }
        extra = {
            "semantic_type": candidate.get("semanticType"),
            "probability": _number(candidate.get("probability")),
            "google": _rest(obj["visit"], "topCandidate"),
        }
        return _visit(start, end, place, source, **extra)
    if isinstance(obj.get("activity"), dict):
        start, end = _times(obj, ("startTime",), ("endTime",))
        activity = obj["activity"]
        candidate = activity.get("topCandidate") or {}
        ends = common.geo_text(activity.get("start")), common.geo_text(activity.get("end"))
        extra = {
            "probability": _number(candidate.get("probability")),
            "google": _rest(activity, "start", "end", "distanceMeters", "topCandidate"),
        }
        return _movement(start, end, candidate.get("type"), activity.get("distanceMeters"), *ends, source, **extra)
    return None  # timelinePath, timelineMemory


def raw_position(obj: dict, prefix: str):
    """(time, geo, accuracy) of a Records.json location or an Android rawSignals position, or None
    when the object is no position; BadTime when its time cannot be read."""
    if prefix == "locations.item":
        point, stamp = common.geo_e7(obj), obj.get("timestamp") or obj.get("timestampMs")
        accuracy = obj.get("accuracy")
    else:
        position = obj.get("position")
        if not isinstance(position, dict):
            return None
        point, stamp = common.geo_text(position.get("LatLng") or position.get("latLng")), position.get("timestamp")
        accuracy = position.get("accuracyMeters")
    if point is None:
        return None
    moment = common.parse_time(stamp)
    if moment is None:
        raise BadTime(f"the time {str(stamp)[:40]!r} is not a date the hub can read")
    return moment, point, _number(accuracy)


_fromisoformat = datetime.datetime.fromisoformat
_fromtimestamp = datetime.datetime.fromtimestamp
_UTC = datetime.UTC


def point_time(stamp) -> datetime.datetime | None:
    """common.parse_time(stamp), sooner for the two notations of Records.json: "...Z" strings (read by
    fromisoformat as parse_time reads them: it too cuts fractions after 6 digits) and epoch
    milliseconds as a string of digits. Anything else, or what these fail on, goes to parse_time."""
    if type(stamp) is str:
        if stamp[-1:] == "Z":
            try:
                return _fromisoformat(stamp)
            except ValueError:
                pass
        elif 10 <= len(stamp) <= 14 and stamp.isdecimal():
            try:
                return _fromtimestamp(int(stamp) / 1000, tz=_UTC)
            except (ValueError, OverflowError, OSError):
                return None
    return common.parse_time(stamp)


def moment(key) -> datetime.datetime:
    """A time as Stays holds it: a datetime, or (on the fast path) a timestampMs of 13 ASCII digits
    as Google wrote it, read only when needed, exactly as common.parse_time reads it (it always can).
    Such strings compare as their numbers do, and distinct milliseconds give distinct, equally
    ordered datetimes, so they compare as the times do."""
    return key if type(key) is not str else _fromtimestamp(int(key) / 1000, tz=_UTC)


def is_records_json(head: bytes) -> bool:
    """A Records.json (raw positions only), from its first bytes."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \r\n\t")
    return text.startswith("{") and '"locations"' in text and not any(marker in text for marker in MARKERS)


def _peekable(stream):
    return stream if hasattr(stream, "peek") else io.BufferedReader(stream, 64 * 1024)


def read(member: archives.Member, stream, *, raw_points: bool = True):
    """(entry index, visit dict | ItemError | Notice) of one location file, whatever its shape; raw
    positions are grouped into visits unless raw_points is off."""
    label = member.label
    index = record = bad_points = 0
    truncated = None
    stays = {"locations.item": Stays("records"), "rawSignals.item": Stays("timeline-raw")}
    try:
        stream = _peekable(stream)
        if is_records_json(stream.peek(archives.HEAD_BYTES)[: archives.HEAD_BYTES]):
            # The fast path (see the module docstring): what raw_position, precise and Stays.add do
            # per point, inlined for the common notations, the general functions for the others.
            # Stays.add_at inlined, the current stay in local variables (written back to the Stays
            # object when it closes and when the loop ends); a timestampMs stays a string (see
            # moment()) unless it meets a time of the other notation.
            stay = stays["locations.item"]
            cos, radians_half, haversine, fromisoformat = math.cos, _RADIANS / 2, haversine_m, _fromisoformat
            lat_far, lon_near, near2, far2 = _LAT_FAR, _LON_NEAR, _NEAR2, _FAR2
            count, end, lat_c, lon_c = 0, None, 0.0, 0.0
            try:
                positions = enumerate(ijson.items(stream, "locations.item", use_float=True), start=1)
                if not raw_points:
                    for record, _obj in positions:  # noqa: B007 (record names where bad JSON starts)
                        pass  # read through: bad JSON is still reported
                for record, obj in positions:
                    if type(obj) is not dict:
                        continue
                    try:
                        lat, lon = obj["latitudeE7"], obj["longitudeE7"]
                    except KeyError:
                        continue  # no position (common.geo_e7 gives None)
                    if type(lat) is int and type(lon) is int:
                        # round(n / 1e7, 7) == n / 1e7 for an integer n: common.geo without rounding.
                        lat, lon = lat / 1e7, lon / 1e7
                        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
                            continue
                    else:
                        point = common.geo_e7(obj)
                        if point is None:
                            continue
                        lat, lon = point["lat"], point["lon"]
                    stamp = obj.get("timestamp") or obj.get("timestampMs")
                    if type(stamp) is not str:
                        key = point_time(stamp)
                    elif len(stamp) == 13 and stamp.isascii() and stamp.isdecimal():
                        key = stamp
                    elif stamp[-1:] == "Z":
                        try:
                            key = fromisoformat(stamp)  # as point_time reads it
                        except ValueError:
                            key = point_time(stamp)
                    else:
                        key = point_time(stamp)
                    if key is None:
                        bad_points += 1
                        if bad_points > 1:
                            continue
                        exc = BadTime(f"the time {str(stamp)[:40]!r} is not a date the hub can read")
                        message = f"{label} record {record}: skipped, {exc}."
                        yield index, ItemError(message, external_id=f"{label}#{record}")
                        index += 1
                        continue
                    accuracy = obj.get("accuracy")
                    kind = type(accuracy)
                    if kind is int or kind is float:
                        if not accuracy <= MAX_ACCURACY_M:
                            continue
                    elif accuracy is not None:
                        accuracy = _number(accuracy)
                        if accuracy is not None and not accuracy <= MAX_ACCURACY_M:
                            continue
                    found = None
                    if count:
                        try:
                            echo = key < end
                        except TypeError:  # a timestampMs string and a datetime
                            echo = moment(key) < moment(end)
                        if echo:
                            continue  # out of order: an echo of an earlier fix
                        dlat, dlon = lat - lat_c, lon - lon_c
                        if dlat > lat_far or dlat < -lat_far:
                            near = False
                        elif -lon_near < dlon < lon_near and -89 < lat_c < 89:
                            dx = cos((lat + lat_c) * radians_half) * dlon
                            d2 = dlat * dlat + dx * dx
                            near = d2 < near2 or (d2 <= far2 and haversine(lat_c, lon_c, lat, lon) <= CLUSTER_RADIUS_M)
                        else:
                            near = haversine(lat_c, lon_c, lat, lon) <= CLUSTER_RADIUS_M
                        if near:
                            count += 1
                            end = key
                            lat_c += (lat - lat_c) / count
                            lon_c += (lon - lon_c) / count
                            continue
                        stay.count, stay.end, stay.lat, stay.lon = count, end, lat_c, lon_c
                        found = stay.close()
                    stay.start = key
                    count, end, lat_c, lon_c = 1, key, lat, lon
                    if found is not None:
                        yield index, found
                        index += 1
            finally:
                stay.count, stay.end, stay.lat, stay.lon = count, end, lat_c, lon_c
        else:
            for prefix, obj in common.objects(stream, PREFIXES):
                record += 1
                if not isinstance(obj, dict):
                    continue
                try:
                    if prefix in stays:
                        if not raw_points:
                            continue
                        position = raw_position(obj, prefix)
                        found = stays[prefix].add(position[0], position[1]) if precise(position) else None
                    elif prefix == "timelineObjects.item":
                        found = semantic(obj)
                    else:
                        found = timeline_segment(obj, "timeline-ios" if prefix == "item" else "timeline-android")
                except BadTime as exc:
                    if prefix in stays:
                        bad_points += 1
                        if bad_points > 1:
                            continue  # one error names the format; the notice at the end counts them
                    found = ItemError(f"{label} record {record}: skipped, {exc}.", external_id=f"{label}#{record}")
                except (AttributeError, TypeError, ValueError, KeyError, OverflowError):
                    # A field of another type than Google writes (text where an object belongs):
                    # a hand-edited or forged entry, named like any unreadable one.
                    found = ItemError(
                        f"{label} record {record}: skipped, its fields are not shaped as Google writes them.",
                        external_id=f"{label}#{record}",
                    )
                if found is not None:
                    yield index, found
                    index += 1
    except common.JSON_ERRORS as exc:
        yield index, common.malformed(member, record, exc)
        index += 1
    except archives.TruncatedFile as exc:
        truncated = exc
    # Whatever ends the file (its end, bad JSON, a cut-short zip), the stays read so far count.
    for stay in stays.values():
        found = stay.close()
        if found:
            yield index, found
            index += 1
    if bad_points > 1:
        notice = f"{label}: {bad_points} positions had times the hub cannot read and were left out."
        yield index, archives.Notice(notice)
    if truncated:
        raise truncated


def precise(position) -> bool:
    if position is None:
        return False
    accuracy = position[2]
    return accuracy is None or accuracy <= MAX_ACCURACY_M


def visit_record(raw: dict) -> Record:
    data = {k: v for k, v in raw.items() if k != "id"}
    if raw["activity"] or raw.get("activity_type"):
        title = (raw["activity"] or "movement").replace("_", " ").capitalize()
        if raw["distance_m"]:
            title += f", {raw['distance_m'] / 1000:.1f} km"
    else:
        where = raw["place_name"] or raw["address"]
        if not where and raw["geo"]:
            where = f"{raw['geo']['lat']:.5f}, {raw['geo']['lon']:.5f}"
        title = f"At {where}" if where else "Visit"
    return Record(
        external_id=raw["id"],
        kind="location_visit",
        title=title[:200],
        summary=raw["address"],
        occurred_at=common.parse_time(raw["start"]),
        data=data,
    )


@registry.register("google_location_history")
class GoogleLocationHistory(common.TakeoutArchive):
    EXPORT = "google-location"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        return is_location_history(member)

    def parse(self, member: archives.Member, stream):
        return read(member, stream, raw_points=self.config.get("group_raw_points", True))

    def transform(self, raw) -> Record:
        return visit_record(raw)
