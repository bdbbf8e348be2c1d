"""Contract fake of the Google Health API v4, over real HTTP.

Follows the discovery document google-api-python-client ships (health.v4.json) and
https://developers.google.com/health/reference/rest/v4:
- GET v4/users/me/identity (healthUserId, legacyUserId);
- GET v4/users/me/dataTypes/{dataType}/dataPoints: `filter` (AIP-160, only the documented fields
  and operators: exercise.interval.civil_start_time, sleep.interval.end_time,
  heart_rate.sample_time.civil_time with >= and <, joined by AND), `pageSize` (at most 25 for
  exercise and sleep, 10000 otherwise), `pageToken` / `nextPageToken`, newest first;
- POST v4/users/me/dataTypes/{dataType}/dataPoints:dailyRollUp: `range` of civil dates (at most 90
  days; months and days as plain JSON numbers), `windowSizeDays`, `rollupDataPoints` with
  civilStartTime / civilEndTime and the data type's rollup value;
- scopes per data type (activity_and_fitness, sleep, health_metrics_and_measurements .readonly),
  401 UNAUTHENTICATED, 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT, 429 RESOURCE_EXHAUSTED with Retry-After
  (programmed with `fail`), 400 INVALID_ARGUMENT for a filter outside the documented syntax.
"""

from __future__ import annotations

import base64
import datetime
import json
import re

from tests.fakes.oauth_api import GoogleApiFake, Reply, google_error, route

SCOPE = "https://www.googleapis.com/auth/googlehealth."
SCOPES = {
    "steps": SCOPE + "activity_and_fitness.readonly",
    "distance": SCOPE + "activity_and_fitness.readonly",
    "active-energy-burned": SCOPE + "activity_and_fitness.readonly",
    "exercise": SCOPE + "activity_and_fitness.readonly",
    "sleep": SCOPE + "sleep.readonly",
    "heart-rate": SCOPE + "health_metrics_and_measurements.readonly",
}
ROLLUP = {"steps": ("steps", "countSum"), "distance": ("distance", "millimetersSum"),
          "active-energy-burned": ("activeEnergyBurned", "kcalSum")}  # fmt: skip
FILTERS = {
    "exercise": "exercise.interval.civil_start_time",
    "sleep": "sleep.interval.end_time",
    "heart-rate": "heart_rate.sample_time.civil_time",
}
CLAUSE = re.compile(r'^\s*([a-z_.]+)\s*(>=|<)\s*"([^"]+)"\s*$')


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _offset(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token))["o"])
    except (ValueError, KeyError):
        raise Reply(400, google_error(400, "Invalid page token.", "badRequest", "INVALID_ARGUMENT")) from None


def civil(day: datetime.date, hour: int = 0, minute: int = 0) -> dict:
    return {"date": {"year": day.year, "month": day.month, "day": day.day},
            "time": {"hours": hour, "minutes": minute}}  # fmt: skip


def invalid(message: str) -> Reply:
    return Reply(400, google_error(400, message, "badRequest", "INVALID_ARGUMENT"))


class GoogleHealthFake(GoogleApiFake):
    def reset(self):
        super().reset()
        self.identity = {"healthUserId": "1234567890", "legacyUserId": "A1B2C3"}
        self.daily: dict[tuple[str, str], float] = {}  # (dataType, YYYY-MM-DD) -> value
        self.points: dict[str, list[dict]] = {"exercise": [], "sleep": [], "heart-rate": []}
        # Not the contract: tests lower the documented page maximum to page through small data sets.
        self.max_page: int | None = None

    # -- the test's hands ---------------------------------------------------------------------
    def put_daily(self, data_type: str, day: datetime.date, value: float):
        self.daily[(data_type, day.isoformat())] = value

    def put_exercise(self, point_id: str, start: datetime.datetime, minutes: int, **extra) -> dict:
        end = start + datetime.timedelta(minutes=minutes)
        local = start + datetime.timedelta(hours=1)
        point = {
            "name": f"users/1234567890/dataTypes/exercise/dataPoints/{point_id}",
            "dataSource": {"platform": "FITBIT", "device": {"displayName": "Charge 6", "formFactor": "FITNESS_BAND"}},
            "exercise": {
                "displayName": extra.pop("display_name", "Run"),
                "exerciseType": extra.pop("exercise_type", "RUNNING"),
                "interval": {"startTime": _z(start), "startUtcOffset": "3600s", "endTime": _z(end),
                             "endUtcOffset": "3600s", "civilStartTime": civil(local.date(), local.hour, local.minute)},
                "activeDuration": f"{minutes * 60}s",
                "metricsSummary": {"distanceMillimeters": 5_000_000.0, "caloriesKcal": 320.5, "steps": "5800",
                                   "averageHeartRateBeatsPerMinute": "151"},
                "updateTime": _z(end),
                **extra,
            },
        }  # fmt: skip
        self._put("exercise", point)
        return point

    def put_sleep(self, point_id: str, start: datetime.datetime, stages: list[tuple[str, int]], nap=False) -> dict:
        segments, at = [], start
        for kind, minutes in stages:
            stop = at + datetime.timedelta(minutes=minutes)
            segments.append({"type": kind, "startTime": _z(at), "startUtcOffset": "3600s",
                             "endTime": _z(stop), "endUtcOffset": "3600s"})  # fmt: skip
            at += datetime.timedelta(minutes=minutes)
        asleep = sum(m for k, m in stages if k in ("LIGHT", "DEEP", "REM", "ASLEEP"))
        point = {
            "name": f"users/1234567890/dataTypes/sleep/dataPoints/{point_id}",
            "dataSource": {"platform": "FITBIT", "device": {"displayName": "Pixel Watch 3"}},
            "sleep": {
                "type": "STAGES",
                "interval": {"startTime": _z(start), "startUtcOffset": "3600s", "endTime": _z(at),
                             "endUtcOffset": "3600s"},
                "stages": segments,
                "metadata": {"processed": True, "mainSleep": not nap, "nap": nap},
                "summary": {"minutesAsleep": str(asleep),
                            "minutesAwake": str(sum(m for k, m in stages if k == "AWAKE")),
                            "minutesInSleepPeriod": str(sum(m for _, m in stages))},
                "updateTime": _z(at),
            },
        }  # fmt: skip
        self._put("sleep", point)
        return point

    def put_heart_rate(self, moment: datetime.datetime, bpm: int, utc_offset_hours: int = 1):
        local = moment + datetime.timedelta(hours=utc_offset_hours)
        self.points["heart-rate"].append(
            {"dataSource": {"platform": "FITBIT"},
             "heartRate": {"beatsPerMinute": str(bpm), "sampleTime": {
                 "physicalTime": _z(moment), "utcOffset": f"{utc_offset_hours * 3600}s",
                 "civilTime": civil(local.date(), local.hour, local.minute)}}}
        )  # fmt: skip

    def delete(self, data_type: str, point_id: str):
        self.points[data_type] = [p for p in self.points[data_type] if not p["name"].endswith("/" + point_id)]

    def _put(self, data_type: str, point: dict):
        self.delete(data_type, point["name"].rsplit("/", 1)[-1])
        self.points[data_type].append(point)

    # -- the API ------------------------------------------------------------------------------
    @route("GET", r"/v4/users/me/identity")
    def get_identity(self, request):
        self.owner(request, *set(SCOPES.values()))
        return {"name": "users/me/identity", **self.identity}

    @route("GET", r"/v4/users/me/dataTypes/(?P<data_type>[a-z-]+)/dataPoints")
    def list_points(self, request, data_type):
        if data_type not in SCOPES:
            raise invalid(f"The data type ID {data_type} is not supported.")
        self.owner(request, SCOPES[data_type])
        args = request.args
        limit = 25 if data_type in ("exercise", "sleep") else 10000
        page_size = min(int(args.get("pageSize") or (25 if limit == 25 else 1440)), limit, self.max_page or limit)
        bounds = self._filter(data_type, args.get("filter", ""))
        points = [p for p in self.points.get(data_type, []) if self._within(data_type, p, bounds)]
        points.sort(key=lambda p: self._key(data_type, p), reverse=True)  # newest first
        offset = _offset(args["pageToken"]) if args.get("pageToken") else 0
        body = {"dataPoints": points[offset : offset + page_size]}
        if offset + page_size < len(points):
            body["nextPageToken"] = _token(offset + page_size)
        return body

    @route("POST", r"/v4/users/me/dataTypes/(?P<data_type>[a-z-]+)/dataPoints:dailyRollUp")
    def daily_roll_up(self, request, data_type):
        if data_type not in ROLLUP:
            raise invalid(f"The data type ID {data_type} is not supported.")
        self.owner(request, SCOPES[data_type])
        raw = request.get_data(as_text=True)
        if re.search(r'"(month|day)"\s*:\s*0\d', raw):
            raise invalid("Invalid JSON payload received. Octal/hex numbers are not valid JSON values.")
        body = json.loads(raw)
        try:
            first = _date(body["range"]["start"]["date"])
            end = _date(body["range"]["end"]["date"])
        except (KeyError, TypeError, ValueError):
            raise invalid("range is required, as civil dates.") from None
        if not first < end or (end - first).days > 90:
            raise invalid("The maximum range is 90 days.")
        if int(body.get("windowSizeDays", 1)) != 1:
            raise invalid("The fake serves one-day windows only.")
        field, value_field = ROLLUP[data_type]
        offset = _offset(body["pageToken"]) if body.get("pageToken") else 0
        page_size = min(int(body.get("pageSize") or 90), 90)
        days = [first + datetime.timedelta(days=n) for n in range((end - first).days)]
        chunk = days[offset : offset + page_size]
        points = []
        for day in chunk:
            value = self.daily.get((data_type, day.isoformat()))
            if value is None:
                points.append({"civilStartTime": civil(day), "civilEndTime": civil(day + datetime.timedelta(days=1))})
                continue
            shown = str(int(value)) if value_field != "kcalSum" else value
            points.append({"civilStartTime": civil(day), "civilEndTime": civil(day + datetime.timedelta(days=1)),
                           field: {value_field: shown}})  # fmt: skip
        reply = {"rollupDataPoints": points}
        if offset + page_size < len(days):
            reply["nextPageToken"] = _token(offset + page_size)
        return reply

    # -- filters ---------------------------------------------------------------------------------
    def _filter(self, data_type: str, text: str) -> dict:
        bounds = {}
        if not text:
            return bounds
        for clause in re.split(r"\s+AND\s+", text):
            match = CLAUSE.match(clause)
            if not match or match.group(1) != FILTERS.get(data_type):
                raise Reply(400, google_error(400, "Invalid filter.", "INVALID_DATA_POINT_FILTER", "INVALID_ARGUMENT"))
            bounds[match.group(2)] = match.group(3)
        return bounds

    @staticmethod
    def _key(data_type: str, point: dict) -> str:
        if data_type == "exercise":
            return point["exercise"]["interval"]["startTime"]
        if data_type == "sleep":
            return point["sleep"]["interval"]["startTime"]
        return point["heartRate"]["sampleTime"]["physicalTime"]

    @staticmethod
    def _within(data_type: str, point: dict, bounds: dict) -> bool:
        if data_type == "sleep":
            value, low, high = point["sleep"]["interval"]["endTime"], bounds.get(">="), bounds.get("<")
            moment = _instant(value)
            return (low is None or moment >= _instant(low)) and (high is None or moment < _instant(high))
        if data_type == "exercise":
            value = _civil_text(point["exercise"]["interval"]["civilStartTime"])
        else:
            value = _civil_text(point["heartRate"]["sampleTime"]["civilTime"])
        low, high = bounds.get(">="), bounds.get("<")
        return (low is None or value >= low) and (high is None or value < high)


def _z(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _date(value: dict) -> datetime.date:
    return datetime.date(int(value["year"]), int(value["month"]), int(value["day"]))


def _civil_text(value: dict) -> str:
    day = _date(value["date"])
    time = value.get("time") or {}
    return f"{day.isoformat()}T{int(time.get('hours', 0)):02d}:{int(time.get('minutes', 0)):02d}:00"
