"""Google Maps saved places from Google Takeout ("Maps (your places)" and "Saved"), as `place`
records: name, geo, address, provider_place_id (the place's cid, else its ftid), url, category
(the list: "starred", "labeled" or a saved list's name).

Read by content, whatever the (translated) file names:
- Saved Places.json, GeoJSON: features with geometry [lon, lat] and properties {"date",
  "google_maps_url", "location": {"name", "address", "country_code"}, "Comment"}; the older shape
  has {"Title", "Google Maps URL", "Published", "Updated", "Location": {"Business Name", "Address",
  "Geo Coordinates": {"Latitude", "Longitude"}}}. A place saved without coordinates has [0, 0]:
  it is imported without geo.
- Labeled places.json, GeoJSON: {"name", "address"} ("Home", "Work" and your labels).
- Saved lists, one CSV per list ("Want to go.csv"): Title, Note, URL (no coordinates).
With include_timeline on, Timeline files in the upload are imported too, as location_visit records
(connectors/google_takeout/location.py); with it off they are named in a notice.
Places are keyed by their cid or ftid where the URL has one, else by a hash of name, address and
coordinates.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import parse_qs, unquote, urlparse

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.google_takeout import common, location
from connectors.registry import registry

EMPTY_NAMES = {"saved places.json", "labeled places.json", "gespeicherte orte.json", "markierte orte.json"}
LIST_COLUMNS = {"title": ["Title", "Titel"], "note": ["Note", "Notiz"], "url": ["URL"], "comment": ["Comment"]}


def is_places_geojson(text: str) -> bool:
    return '"FeatureCollection"' in text and (
        "maps.google" in text or "google.com/maps" in text or '"address"' in text or '"Address"' in text
    )


def is_saved_list(member: archives.Member) -> bool:
    if not common.data_file(member, (".csv",)):
        return False
    first = common.head_text(member).split("\n", 1)[0].lower()
    return first.replace(" ", "").startswith(("title,note,url", "titel,notiz,url"))


def place_id(url: str) -> str:
    """The cid ("?cid=1234") or ftid ("!1s0x47...:0x1d2...", "ftid=0x..:0x..") in a Maps URL."""
    if not url:
        return ""
    query = parse_qs(urlparse(url).query)
    for name in ("cid", "ftid", "query_place_id"):
        if query.get(name):
            return query[name][0]
    match = re.search(r"!1s(0x[0-9a-f]+:0x[0-9a-f]+)", unquote(url))
    return match.group(1) if match else ""


def _place(name, address, point, url, category, **extra) -> dict:
    pid = place_id(url)
    lat, lon = (point["lat"], point["lon"]) if point else (None, None)
    return {
        "id": f"google-place:{pid}" if pid else archives.content_id("google-place", name, address, lat, lon),
        "name": name or address or "",
        "geo": point,
        "address": address or "",
        "provider_place_id": pid,
        "url": url or "",
        "category": category,
        **{k: v for k, v in extra.items() if v not in (None, "")},
    }


def feature(obj: dict) -> dict | None:
    place = _feature(obj)
    if place is not None:
        mapped = {"location", "google_maps_url", "Comment", "date", "Location", "Google Maps URL", "Published",
                  "Updated", "Title", "name", "address"}  # fmt: skip
        rest = {k: v for k, v in (obj.get("properties") or {}).items() if k not in mapped and v not in (None, "")}
        if rest:
            place["google"] = rest
    return place


def _feature(obj: dict) -> dict | None:
    properties = obj.get("properties") or {}
    coordinates = (obj.get("geometry") or {}).get("coordinates") or []
    if not isinstance(coordinates, list):  # a string's characters are no coordinates
        coordinates = []
    point = common.geo(coordinates[1], coordinates[0]) if len(coordinates) >= 2 else None
    if "location" in properties or "google_maps_url" in properties:
        place = properties.get("location") or {}
        url = properties.get("google_maps_url") or ""
        return _place(place.get("name") or "", place.get("address") or "", point, url, "starred",
                      country_code=place.get("country_code"), comment=properties.get("Comment"),
                      saved_at=common.iso(common.parse_time(properties.get("date"))))  # fmt: skip
    if "Location" in properties or "Google Maps URL" in properties:
        place = properties.get("Location") or {}
        coords = place.get("Geo Coordinates") or {}
        point = point or common.geo(coords.get("Latitude"), coords.get("Longitude"))
        return _place(place.get("Business Name") or properties.get("Title") or "", place.get("Address") or "",
                      point, properties.get("Google Maps URL") or "", "starred",
                      country_code=place.get("Country Code"), comment=properties.get("Comment"),
                      saved_at=common.iso(common.parse_time(properties.get("Published"))),
                      updated_at=common.iso(common.parse_time(properties.get("Updated"))))  # fmt: skip
    if "name" in properties or "address" in properties:
        return _place(properties.get("name") or "", properties.get("address") or "", point, "", "labeled")
    return None


@registry.register("google_maps_places")
class GoogleMapsPlaces(common.TakeoutArchive):
    EXPORT = "google-maps-places"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        if common.empty_export_file(member, EMPTY_NAMES) or is_saved_list(member):
            return True
        if not common.data_file(member, (".json", ".geojson")):
            return False
        return is_places_geojson(common.head_text(member)) or location.is_location_history(member)

    def parse(self, member: archives.Member, stream):
        base = member.basename.lower()
        if base.endswith(".csv"):
            yield from self._list(member, stream)
        elif is_places_geojson(common.head_text(member)):
            yield from self._geojson(member, stream)
        elif self.config.get("include_timeline"):
            yield from ((index, self._visit(raw)) for index, raw in location.read(member, stream))
        else:
            yield (
                0,
                archives.Notice(
                    f'{member.label} holds Timeline visits, which were not imported: turn on "Import Timeline '
                    "visits\" in the integration's settings and import the file again to have them."
                ),
            )

    @staticmethod
    def _visit(raw):
        return {**raw, "record_kind": "location_visit"} if isinstance(raw, dict) else raw

    def _geojson(self, member, stream):
        record = 0
        try:
            for _, obj in common.objects(stream, {"features.item"}):
                record += 1
                try:
                    found = feature(obj) if isinstance(obj, dict) else None
                except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                    # A field of another type than Google writes: a hand-edited or forged feature.
                    found = ItemError(
                        f"{member.label} feature {record}: skipped, its fields are not shaped as Google writes them.",
                        external_id=f"{member.label}#{record}",
                    )
                yield record - 1, found
        except common.JSON_ERRORS as exc:
            yield record, common.malformed(member, record, exc)

    def _list(self, member, stream):
        category = member.basename.rsplit(".", 1)[0]
        index = -1
        for line, row in archives.csv_rows(stream, member.label, LIST_COLUMNS, required=("title", "url")):
            index += 1
            if isinstance(row, ItemError):
                yield index, row
                continue
            if not row.get("title") and not row.get("url"):
                yield index, None
                continue
            yield index, _place(row.get("title", ""), "", None, row.get("url", ""), category, note=row.get("note"),
                                comment=row.get("comment"), line=line)  # fmt: skip

    def transform(self, raw) -> Record:
        if raw.get("record_kind") == "location_visit":
            return location.visit_record({k: v for k, v in raw.items() if k != "record_kind"})
        data = {k: v for k, v in raw.items() if k != "id"}
        saved = raw.get("saved_at")
        return Record(
            external_id=raw["id"],
            kind="place",
            title=(raw["name"] or "Saved place")[:200],
            summary=raw["address"],
            occurred_at=datetime.datetime.fromisoformat(saved) if saved else None,
            data=data,
            source_url=raw["url"],
        )
