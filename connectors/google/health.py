"""Google Health API (Fitbit and Pixel Watch data): daily activity, exercise, sleep and heart rate in.

The Fitbit Web API is switched off on 30 October 2026; Fitbit data is read through the Google Health
API instead, with Google OAuth 2.0 and the read-only googlehealth.* scopes.
https://developers.google.com/health/migration

The client is google-api-python-client with the discovery document it ships (health v4, the same
contract as v4beta), sent through the hub's guarded session (connectors.google.common):

- steps, distance and active energy: dataPoints:dailyRollUp (POST, a civil-date range of at most 90
  days, one value per day) -> one `health_sample` per metric and day;
- exercise: dataPoints list, filter on exercise.interval.civil_start_time, pages of at most 25
  -> one `workout` per exercise (its data point name is its id);
- sleep: dataPoints list, filter on sleep.interval.end_time, pages of at most 25 -> one
  `health_sample` (metric "sleep", minutes asleep) per sleep session, with its stages;
- heart rate: the samples are dense (one every few seconds to a minute), so they are listed one
  civil day at a time (heart_rate.sample_time.civil_time) and kept as one record per day: lowest,
  average, highest, and the day's series averaged per five minutes.

Incremental sync: the API documents no change token for these collections, so the cursor is the
last civil day read of each data type; each sync reads again from OVERLAP_DAYS before it (late device syncs and
edits land in recent days), up to tomorrow (civil dates run ahead of UTC east of Greenwich). Daily
records are keyed by date, sessions by their data point name, so reading a day again updates it.
Exercises and sleeps that a complete listing no longer shows are tombstoned, inside the days read.

Errors (https://developers.google.com/health/troubleshooting): 401 -> re-authenticate; 403 with
ACCESS_TOKEN_SCOPE_INSUFFICIENT -> the missing scope is named; 403 SERVICE_DISABLED (the Google
Health API is not enabled in the hub's Cloud project) or a project Google has not let in ->
an operator problem; ACCOUNT_NOT_LINKED -> the person sets up Google Health or moves their Fitbit
account; 429 / RESOURCE_EXHAUSTED -> wait (Retry-After) and go on; 503 / 504 -> transient, retried.
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict

from googleapiclient.errors import HttpError

from connectors.base import Batch, Connector, DailySeries, Record
from connectors.errors import AuthError, ConfigError, RateLimited, classify
from connectors.google.common import build_service, error_reasons
from connectors.http import retry_after_value
from connectors.paging import PageGuard
from connectors.registry import registry

DEFAULT_BASE = "https://health.googleapis.com"
VERSION = "v4"
USER = "users/me"
SCOPE = "https://www.googleapis.com/auth/googlehealth."
ACTIVITY_SCOPE = SCOPE + "activity_and_fitness.readonly"
SLEEP_SCOPE = SCOPE + "sleep.readonly"
METRICS_SCOPE = SCOPE + "health_metrics_and_measurements.readonly"
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 365
OVERLAP_DAYS = 3
ROLLUP_MAX_DAYS = 90
SESSION_PAGE = 25  # the documented maximum for exercise and sleep
SAMPLE_PAGE = 10000  # the documented maximum for other data types
SERIES_MINUTES = 5

# metric -> (dataType, rollup field, value field, unit, conversion, scope)
ROLLUPS = {
    "steps": ("steps", "steps", "countSum", "count", 1.0, ACTIVITY_SCOPE),
    "distance": ("distance", "distance", "millimetersSum", "m", 0.001, ACTIVITY_SCOPE),
    "active_energy": ("active-energy-burned", "activeEnergyBurned", "kcalSum", "kcal", 1.0, ACTIVITY_SCOPE),
}
CHOICES = ("activity", "exercise", "sleep", "heart_rate")
SCOPE_OF = {"activity": ACTIVITY_SCOPE, "exercise": ACTIVITY_SCOPE, "sleep": SLEEP_SCOPE, "heart_rate": METRICS_SCOPE}
LABEL = {"activity": "daily activity", "exercise": "exercises", "sleep": "sleep", "heart_rate": "heart rate"}
OPERATOR_REASONS = {
    "SERVICE_DISABLED",
    "accessNotConfigured",
    "API_DISABLED",
    "CONSUMER_INVALID",
    "USER_PROJECT_DENIED",
}
ASLEEP = {"LIGHT", "DEEP", "REM", "ASLEEP"}


def _day(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value)


def _civil_date(value: dict | None) -> datetime.date | None:
    date = (value or {}).get("date") or {}
    try:
        return datetime.date(int(date["year"]), int(date["month"]), int(date["day"]))
    except (KeyError, TypeError, ValueError):
        return None


def _instant(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _offset(value: str | None) -> datetime.timezone:
    """A google-duration UTC offset ("3600s", "-18000s") as a timezone."""
    try:
        return datetime.timezone(datetime.timedelta(seconds=float(str(value or "0s").rstrip("s"))))
    except (ValueError, OverflowError):
        return datetime.UTC


def _local(moment: datetime.datetime | None, offset: str | None) -> str | None:
    return moment.astimezone(_offset(offset)).isoformat() if moment else None


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _civil(day: datetime.date) -> dict:
    # Months and days without a leading zero: JSON numbers (the troubleshooting guide's 400).
    return {"date": {"year": day.year, "month": day.month, "day": day.day}}


def health_error(exc: HttpError, what: str) -> Exception:
    """One of the hub's errors for an answer of the Google Health API, reading `what` (a CHOICES key
    or "account"), each with its own fix."""
    status, reasons = exc.resp.status, error_reasons(exc)
    try:
        message = json.loads(exc.content.decode("utf-8", "replace")).get("error", {}).get("message") or exc.reason
    except (ValueError, AttributeError):
        message = exc.reason
    message = str(message or "")[:300]
    if status == 429 or "RESOURCE_EXHAUSTED" in reasons:
        retry_after = retry_after_value(exc.resp.get("retry-after"))
        return RateLimited(f"Google Health is rate limiting us ({message}).", retry_after=retry_after)
    if status == 401:
        return AuthError(
            f"Google refused the connection's credentials ({message}): access was revoked or has expired.",
            remediation="Reconnect Google Health from the integration's page and allow the hub again.",
        )
    if status == 403 and ("ACCESS_TOKEN_SCOPE_INSUFFICIENT" in reasons or "insufficientPermissions" in reasons):
        scope = SCOPE_OF.get(what, ACTIVITY_SCOPE)
        return AuthError(
            f"Google Health refused to share your {LABEL.get(what, what)}: the connection lacks the "
            f"permission {scope.removeprefix('https://www.googleapis.com/auth/')}.",
            remediation="Reconnect and tick every permission on Google's consent page, or untick this data in "
            "the integration's settings.",
        )
    lowered = message.lower()
    if status == 403 and (
        reasons & OPERATOR_REASONS or "not been used in project" in lowered or "allowlist" in lowered
    ):
        error = ConfigError(
            f"The hub's Google Cloud project cannot use the Google Health API ({message}).",
            remediation="Ask the hub's operator: the Google Health API must be enabled in the hub's Google Cloud "
            "project, and until Google has reviewed the app (its scopes are restricted) you must be one of its "
            "test users. Nothing is wrong with your account.",
        )
        error.operator_problem = True
        return error
    if "ACCOUNT_NOT_LINKED" in reasons:
        return ConfigError(
            f"This Google account has no Google Health profile ({message}).",
            remediation="Open the Fitbit app, sign in with (or move your Fitbit account to) this Google account, "
            "then sync again.",
        )
    if status == 403:
        return AuthError(
            f"Google Health denied access ({message}).",
            remediation="Reconnect with the Google account your Fitbit data is in (not a legacy Fitbit login); "
            "if that does not help, ask the operator to add you as a test user of the hub's Google Cloud project.",
        )
    return classify(exc)


@registry.register("google_health")
class GoogleHealthConnector(Connector):
    kind_map = {"health_sample": "health_sample", "workout": "workout"}
    # Google counts 300 requests a minute per user (2.5 a second for an unverified app: the catalogue's
    # 150 a minute), https://developers.google.com/health/rate-limits: one window per connection.
    rate_limit_scope = "integration"

    def _service(self):
        if not hasattr(self, "_svc"):
            self._svc = build_service(self.ctx, "health", VERSION, default_base=DEFAULT_BASE)
        return self._svc

    def _points(self):
        return self._service().users().dataTypes().dataPoints()

    def _run(self, request, what: str):
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            raise health_error(exc, what) from exc

    # -- settings ----------------------------------------------------------------------------
    @property
    def wanted(self) -> list[str]:
        chosen = [c for c in (self.config.get("data") or CHOICES) if c in CHOICES]
        return chosen or list(CHOICES)

    def _window_days(self) -> int:
        try:
            days = int(self.config.get("window_days") or DEFAULT_WINDOW_DAYS)
        except (TypeError, ValueError):
            days = DEFAULT_WINDOW_DAYS
        return max(1, min(days, MAX_WINDOW_DAYS))

    @staticmethod
    def _today() -> datetime.date:
        return datetime.datetime.now(datetime.UTC).date()

    def days_to_read(self, cursor, name: str) -> tuple[datetime.date, datetime.date]:
        """[first, end) civil days this sync reads of the data `name`: the whole window the first time
        (or when the window was widened since), else from OVERLAP_DAYS before the last day read."""
        today = self._today()
        end = today + datetime.timedelta(days=2)  # through tomorrow: civil dates east of UTC
        first = today - datetime.timedelta(days=self._window_days() - 1)
        since = self._read_through(cursor).get(name)
        if since:
            first = max(first, _day(since) - datetime.timedelta(days=OVERLAP_DAYS))
        return first, end

    def _read_through(self, cursor) -> dict:
        cursor = cursor if isinstance(cursor, dict) else {}
        read = cursor.get("read_through")
        if not isinstance(read, dict) or int(cursor.get("window_days") or 0) < self._window_days():
            return {}  # nothing read yet, or a wider window now: read all of it
        return dict(read)

    # -- connector -----------------------------------------------------------------------------
    def test_connection(self) -> str:
        identity = self._run(self._service().users().getIdentity(name=f"{USER}/identity"), "account")
        health_id = identity.get("healthUserId") or ""
        legacy = identity.get("legacyUserId")
        label = f"Google Health user {health_id}" if health_id else "Google Health"
        return f"{label} (Fitbit {legacy})" if legacy else label

    def not_granted(self) -> list[str]:
        """The data chosen in the settings whose scope the person unticked on Google's consent page
        (Google's consent is granular). Unknown grants (none recorded) are tried: a 403 then says."""
        granted = set(getattr(self.ctx.credential, "granted_scopes", None) or [])
        if not granted:
            return []
        return [name for name in self.wanted if SCOPE_OF[name] not in granted]

    def list_changes(self, cursor):
        """Each data type is read in its own days (see days_to_read); the cursor remembers, per data
        type, the last day read: {"read_through": {name: "YYYY-MM-DD"}, "window_days": n}. A data type
        ticked later, or one whose permission is granted later, is then read over the whole window."""
        state = {"read_through": self._read_through(cursor), "window_days": self._window_days()}
        steps = [
            ("activity", self._activity),
            ("exercise", self._exercises),
            ("sleep", self._sleeps),
            ("heart_rate", self._heart_rate),
        ]
        skipped = self.not_granted()
        if skipped:
            yield Batch(cursor=cursor, notices=[_not_granted_notice(name) for name in skipped])
        wanted = [name for name in self.wanted if name not in skipped]
        for name, step in steps:
            if name not in wanted:
                continue
            first, end = self.days_to_read(cursor, name)
            for items, deletes in step(first, end):
                self.ctx.heartbeat()
                # The day read moves only once a data type is read whole: stopped half-way, a sync
                # reads the same days again.
                yield Batch(items=items, deletes=deletes, cursor=_copy(state))
            state["read_through"][name] = (end - datetime.timedelta(days=1)).isoformat()
            yield Batch(cursor=_copy(state))

    # -- steps, distance, active energy: one value per day -----------------------------------------
    def _activity(self, first: datetime.date, end: datetime.date):
        for metric, (data_type, field, value_field, unit, factor, _scope) in ROLLUPS.items():
            start = first
            while start < end:
                stop = min(end, start + datetime.timedelta(days=ROLLUP_MAX_DAYS))
                body = {"range": {"start": _civil(start), "end": _civil(stop)}, "windowSizeDays": 1}
                page = None
                pages = PageGuard("Google Health", what=metric)
                while True:
                    if page:
                        body["pageToken"] = page
                    request = self._points().dailyRollUp(parent=f"{USER}/dataTypes/{data_type}", body=body)
                    response = self._run(request, "activity")
                    items = []
                    for point in response.get("rollupDataPoints") or []:
                        day = _civil_date(point.get("civilStartTime"))
                        value = _number((point.get(field) or {}).get(value_field))
                        if day is None or value is None:
                            continue
                        items.append(
                            {"record": "daily", "metric": metric, "date": day.isoformat(),
                             "value": round(value * factor, 3), "unit": unit}
                        )  # fmt: skip
                    yield items, []
                    page = pages.follow(response.get("nextPageToken"))
                    if not page:
                        break
                start = stop

    # -- sessions: exercise and sleep ------------------------------------------------------------
    def _sessions(self, what: str, data_type: str, filter_: str, prefix: str, window):
        seen, page, complete = set(), None, False
        pages = PageGuard("Google Health", what=what)
        while True:
            params = {"parent": f"{USER}/dataTypes/{data_type}", "filter": filter_, "pageSize": SESSION_PAGE}
            if page:
                params["pageToken"] = page
            response = self._run(self._points().list(**params), what)
            items = []
            for point in response.get("dataPoints") or []:
                if point.get("name"):
                    seen.add(prefix + point["name"].rsplit("/", 1)[-1])
                    items.append(point)
            page = pages.follow(response.get("nextPageToken"))
            if not page:
                complete = True
            deletes = []
            if complete:
                deletes = sorted(self.ctx.known_ids(prefix=prefix, occurred_within=window) - seen)
            yield items, deletes
            if complete:
                return

    def _exercises(self, first: datetime.date, end: datetime.date):
        filter_ = (
            f'exercise.interval.civil_start_time >= "{first.isoformat()}" AND '
            f'exercise.interval.civil_start_time < "{end.isoformat()}"'
        )
        yield from self._sessions("exercise", "exercise", filter_, "exercise:", self._safe_window(first, end))

    def _sleeps(self, first: datetime.date, end: datetime.date):
        start = datetime.datetime.combine(first, datetime.time(), tzinfo=datetime.UTC)
        stop = datetime.datetime.combine(end, datetime.time(), tzinfo=datetime.UTC)
        filter_ = f'sleep.interval.end_time >= "{_rfc3339(start)}" AND sleep.interval.end_time < "{_rfc3339(stop)}"'
        yield from self._sessions("sleep", "sleep", filter_, "sleep:", self._safe_window(first, end))

    @staticmethod
    def _safe_window(first: datetime.date, end: datetime.date):
        """The UTC span whose records a listing of civil days [first, end) surely covers: civil days
        differ from UTC ones by up to 14 hours, and a night ends up to a day after it starts."""
        start = datetime.datetime.combine(first, datetime.time(), tzinfo=datetime.UTC) + datetime.timedelta(days=1)
        stop = datetime.datetime.combine(end, datetime.time(), tzinfo=datetime.UTC) - datetime.timedelta(days=1)
        return start, max(start, stop)

    # -- heart rate: dense samples, one record per civil day --------------------------------------
    def _heart_rate(self, first: datetime.date, end: datetime.date):
        day = first
        while day < end:
            following = day + datetime.timedelta(days=1)
            filter_ = (
                f'heart_rate.sample_time.civil_time >= "{day.isoformat()}" AND '
                f'heart_rate.sample_time.civil_time < "{following.isoformat()}"'
            )
            samples, page = [], None
            pages = PageGuard("Google Health", what="heart rate")
            while True:
                params = {"parent": f"{USER}/dataTypes/heart-rate", "filter": filter_, "pageSize": SAMPLE_PAGE}
                if page:
                    params["pageToken"] = page
                response = self._run(self._points().list(**params), "heart_rate")
                for point in response.get("dataPoints") or []:
                    sample = point.get("heartRate") or {}
                    when = sample.get("sampleTime") or {}
                    bpm = _number(sample.get("beatsPerMinute"))
                    moment = _instant(when.get("physicalTime"))
                    if bpm is not None and moment is not None:
                        samples.append((moment, when.get("utcOffset"), bpm))
                page = pages.follow(response.get("nextPageToken"))
                self.ctx.heartbeat()
                if not page:
                    break
            yield ([heart_day(day, samples)] if samples else []), []
            day = following

    # -- records -------------------------------------------------------------------------------
    def transform(self, raw) -> Record:
        if raw.get("record") == "daily":
            return _daily_record(raw)
        if raw.get("record") == "heart_rate_day":
            return _heart_record(raw)
        if "exercise" in raw:
            return _exercise_record(raw)
        if "sleep" in raw:
            return _sleep_record(raw)
        raise ValueError(f"unexpected Google Health data point with fields {sorted(raw)[:8]}")

    @classmethod
    def daily_charts(cls, items, days: int = 30) -> list[DailySeries]:
        return daily_charts(items, days)


def _copy(state: dict) -> dict:
    return {"read_through": dict(state["read_through"]), "window_days": state["window_days"]}


def _not_granted_notice(name: str) -> str:
    scope = SCOPE_OF[name].removeprefix("https://www.googleapis.com/auth/")
    return (
        f"Your {LABEL[name]} was not read: the permission {scope} was not allowed on Google's consent page. "
        f"Reconnect and tick it, or untick this data in the integration's settings."
    )


def heart_day(day: datetime.date, samples: list) -> dict:
    samples.sort(key=lambda s: s[0])
    offset = samples[0][1]
    buckets: dict[str, list[float]] = defaultdict(list)
    for moment, utc_offset, bpm in samples:
        local = moment.astimezone(_offset(utc_offset))
        minute = local.hour * 60 + local.minute
        minute -= minute % SERIES_MINUTES
        buckets[f"{minute // 60:02d}:{minute % 60:02d}"].append(bpm)
    values = [s[2] for s in samples]
    return {
        "record": "heart_rate_day",
        "date": day.isoformat(),
        "start": _local(samples[0][0], offset),
        "end": _local(samples[-1][0], samples[-1][1]),
        "min": min(values),
        "max": max(values),
        "value": round(sum(values) / len(values), 1),
        "samples": len(values),
        "series": [[key, round(sum(v) / len(v), 1)] for key, v in sorted(buckets.items())],
    }


def _day_span(date: str) -> tuple[datetime.datetime, str, str]:
    start = datetime.datetime.combine(_day(date), datetime.time(), tzinfo=datetime.UTC)
    return start, start.isoformat(), (start + datetime.timedelta(days=1)).isoformat()


def _daily_record(raw: dict) -> Record:
    start, start_text, end_text = _day_span(raw["date"])
    metric, value, unit = raw["metric"], raw["value"], raw["unit"]
    shown = f"{value:,.0f}" if unit == "count" else f"{value:g} {unit}"
    title = {"steps": f"Steps: {shown}", "distance": f"Distance: {value / 1000:.2f} km"}.get(
        metric, f"Active energy: {shown}"
    )
    data = {
        "metric": metric, "value": value, "unit": unit, "date": raw["date"], "start": start_text,
        "end": end_text, "source": "Google Health", "category": "daily_total",
    }  # fmt: skip
    return Record(
        external_id=f"{metric}:{raw['date']}", kind="health_sample", title=title, occurred_at=start, data=data
    )


def _heart_record(raw: dict) -> Record:
    data = {k: v for k, v in raw.items() if k != "record"}
    data.update(metric="heart_rate", unit="bpm", source="Google Health", category="daily_series")
    title = f"Heart rate: {raw['min']:g} to {raw['max']:g} bpm (average {raw['value']:g})"
    occurred = _instant(raw["start"])
    return Record(
        external_id=f"heart_rate:{raw['date']}", kind="health_sample", title=title, occurred_at=occurred, data=data
    )


def _source(point: dict) -> str:
    source = point.get("dataSource") or {}
    device = (source.get("device") or {}).get("displayName") or ""
    return device or str(source.get("platform") or "").replace("_", " ").title() or "Google Health"


def _exercise_record(point: dict) -> Record:
    exercise = point["exercise"]
    interval = exercise.get("interval") or {}
    start, end = _instant(interval.get("startTime")), _instant(interval.get("endTime"))
    summary = exercise.get("metricsSummary") or {}
    activity = str(exercise.get("exerciseType") or "OTHER").lower()
    active = _number(str(exercise.get("activeDuration") or "").rstrip("s"))
    duration = active if active is not None else ((end - start).total_seconds() if start and end else None)
    distance = _number(summary.get("distanceMillimeters"))
    data = {
        "activity": activity,
        "start": _local(start, interval.get("startUtcOffset")),
        "end": _local(end, interval.get("endUtcOffset")),
        "duration_s": duration,
        "distance_m": round(distance / 1000, 1) if distance is not None else None,
        "energy_kcal": _number(summary.get("caloriesKcal")),
        "steps": _number(summary.get("steps")),
        "average_heart_rate": _number(summary.get("averageHeartRateBeatsPerMinute")),
        "active_zone_minutes": _number(summary.get("activeZoneMinutes")),
        "source": _source(point),
        "name": point.get("name", ""),
        "notes": exercise.get("notes", ""),
        "updated": exercise.get("updateTime", ""),
    }
    minutes = round(duration / 60) if duration else 0
    title = f"{exercise.get('displayName') or activity.replace('_', ' ').capitalize()}, {minutes} min"
    return Record(
        external_id="exercise:" + point["name"].rsplit("/", 1)[-1],
        kind="workout",
        title=title[:500],
        summary=str(exercise.get("notes") or "")[:2000],
        occurred_at=start,
        data={k: v for k, v in data.items() if v not in (None, "")},
        version=str(exercise.get("updateTime") or ""),
    )


def _sleep_record(point: dict) -> Record:
    sleep = point["sleep"]
    interval = sleep.get("interval") or {}
    start, end = _instant(interval.get("startTime")), _instant(interval.get("endTime"))
    summary = sleep.get("summary") or {}
    stages = [
        {
            "stage": str(stage.get("type") or "").lower(),
            "start": _local(_instant(stage.get("startTime")), stage.get("startUtcOffset")),
            "end": _local(_instant(stage.get("endTime")), stage.get("endUtcOffset")),
        }
        for stage in sleep.get("stages") or []
    ]
    asleep = _number(summary.get("minutesAsleep"))
    if asleep is None:  # no summary (not processed yet): add up the asleep stages
        asleep = sum(
            (_instant(s.get("endTime")) - _instant(s.get("startTime"))).total_seconds() / 60
            for s in sleep.get("stages") or []
            if str(s.get("type")) in ASLEEP and s.get("startTime") and s.get("endTime")
        )
    metadata = sleep.get("metadata") or {}
    per_stage = {
        str(s.get("type") or "").lower(): _number(s.get("minutes")) for s in summary.get("stagesSummary") or []
    }
    data = {
        "metric": "sleep",
        "value": round(asleep, 1),
        "unit": "min",
        "category": "asleep_nap" if metadata.get("nap") else "asleep",
        "start": _local(start, interval.get("startUtcOffset")),
        "end": _local(end, interval.get("endUtcOffset")),
        "sleep_type": str(sleep.get("type") or "").lower(),
        "minutes_awake": _number(summary.get("minutesAwake")),
        "minutes_in_sleep_period": _number(summary.get("minutesInSleepPeriod")),
        "stage_minutes": per_stage or None,
        "stages": stages or None,
        "main_sleep": metadata.get("mainSleep"),
        "processed": metadata.get("processed"),
        "source": _source(point),
        "name": point.get("name", ""),
        "updated": sleep.get("updateTime", ""),
    }
    hours, minutes = divmod(round(asleep), 60)
    title = f"{'Nap' if metadata.get('nap') else 'Sleep'}: {hours} h {minutes:02d} min asleep"
    return Record(
        external_id="sleep:" + point["name"].rsplit("/", 1)[-1],
        kind="health_sample",
        title=title,
        occurred_at=start,
        data={k: v for k, v in data.items() if v is not None and v != ""},
        version=str(sleep.get("updateTime") or ""),
    )


def daily_charts(items, days: int = 30) -> list[DailySeries]:
    """Steps per day, hours asleep per night (by the day it ends) and the heart rate's daily range,
    over the last `days` days with data."""
    rows = list(
        items.filter(kind="health_sample", deleted_at__isnull=True, data__metric__in=("steps", "sleep", "heart_rate"))
        .order_by("-occurred_at")
        .values_list("data", flat=True)[: days * 8]
    )
    if not rows:
        return []
    steps: dict[datetime.date, float] = {}
    sleep: dict[datetime.date, float] = defaultdict(float)
    heart: dict[datetime.date, tuple] = {}
    for data in rows:
        try:
            if data["metric"] == "steps":
                steps[_day(data["date"])] = data["value"]
            elif data["metric"] == "sleep":
                sleep[_day(str(data["end"])[:10])] += data["value"] / 60
            else:
                heart[_day(data["date"])] = (data["min"], data["value"], data["max"])
        except (KeyError, TypeError, ValueError):
            continue
    dated = list(steps) + list(sleep) + list(heart)
    if not dated:
        return []
    last = max(dated)
    first = last - datetime.timedelta(days=days - 1)

    def window(values: dict) -> list:
        return [(day, values[day]) for day in sorted(values) if first <= day <= last]

    charts = [
        DailySeries("Steps", "steps", first, last, window(steps)),
        DailySeries("Sleep", "hours", first, last, window({d: round(v, 2) for d, v in sleep.items()})),
        DailySeries("Heart rate", "bpm", first, last, window(heart)),
    ]
    return [chart for chart in charts if chart.days]
