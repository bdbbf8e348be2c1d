"""Setting aside the everyday mistakes of published events, each said in words.

icalendar keeps what it cannot parse (a vBroken value) and keeps a property as often as a file
repeats it; recurring-ical-events then fails in Python's own words ("'<' not supported between
instances of 'datetime.datetime' and 'datetime.time'", "UNTIL parameter is missing"). Before an
event is read, the properties it cannot use are set aside here, and each repair comes back as a
phrase naming the property, its value as written, and what the hub did instead, to be put after
the event's label ("Event 'Yoga' (UID ...)").
"""

from __future__ import annotations

import datetime

from icalendar.prop import vBroken, vDDDTypes, vDuration

# Properties an event holds at most once (RFC 5545 3.6.1), with their name in words.
SINGLE = {
    "DTSTART": "start time", "DTEND": "end time", "DURATION": "duration", "RECURRENCE-ID": "recurrence date",
    "SUMMARY": "title", "DESCRIPTION": "description", "LOCATION": "location", "STATUS": "status", "URL": "link",
}  # fmt: skip
FREQUENCIES = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
# Seconds between two occurrences of each frequency (months and years roughly), and the BY parts
# that multiply the occurrences of coarser frequencies.
PERIODS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 604800,
           "MONTHLY": 2629800, "YEARLY": 31557600}  # fmt: skip
MULTIPLIERS = {"BYSECOND": 1, "BYMINUTE": 60, "BYHOUR": 3600, "BYDAY": 86400, "BYMONTHDAY": 86400}
# Beyond this many occurrences in the sync window, one event would hold a worker for minutes and
# fill the database (FREQ=MINUTELY over two years is a million): its rule is set aside instead.
MAX_OCCURRENCES = 50_000
TIMES = {1: "once", 2: "twice", 3: "three times"}


def many(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def written(name: str, prop) -> str:
    """The property as the file wrote it, e.g. RDATE;VALUE=TIME:120000 (shortened when long)."""
    if isinstance(prop, vBroken):
        text = str(prop)
    else:
        try:
            raw = prop.to_ical() if hasattr(prop, "to_ical") else str(prop)
        except ValueError:  # icalendar will not write back a period that ends before it starts
            raw = ",".join("/".join(_ical(v) for v in _pair(e.dt)) for e in getattr(prop, "dts", []))
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    kind = getattr(prop, "params", {}).get("VALUE")
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{name}{f';VALUE={kind}' if kind else ''}:{text}"


def _pair(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _ical(value) -> str:
    if isinstance(value, datetime.timedelta):
        return vDuration(value).to_ical().decode()
    return vDDDTypes(value).to_ical().decode()


def duplicates(component) -> list[str]:
    """Keep the first of a property written more than once; say so when the copies differ."""
    said = repeated(component)
    for name in SINGLE:
        values = component.get(name)
        if isinstance(values, list):
            component[name] = values[0]
    return said


def repeated(component) -> list[str]:
    """The properties written more than once with different values, in words (the first counts)."""
    said = []
    for name, words in SINGLE.items():
        values = component.get(name)
        if not isinstance(values, list):
            continue
        texts = list(dict.fromkeys(written(name, v) for v in values))
        if len(texts) > 1:
            count = TIMES.get(len(values), f"{len(values)} times")
            said.append(f"has its {words} ({name}) {count} ({', '.join(texts)}); the hub kept the first")
    return said


def recurrence(component, span: datetime.timedelta | None = None) -> tuple[list[str], bool]:
    """Set aside the repeat rules, extra dates and excluded dates that cannot be expanded (or
    would make too many occurrences in a window of `span`). Returns (phrases, whether a rule
    was skipped)."""
    said, skipped = [], False
    kept = []
    for rule in many(component.get("RRULE")):
        problem = rule_problem(rule)
        dense = "" if problem or not span else too_many(rule, span)
        if problem or dense:
            shown, verb = written("RRULE", rule), "cannot read" if problem else "will not expand"
            said.append(f"repeats by a rule the hub {verb} ({shown}: {problem or dense}); {first_date(component)}")
            skipped = True
        else:
            if not isinstance(rule, vBroken) and "RSCALE" in rule:
                # RSCALE=GREGORIAN with the default SKIP=OMIT is the plain rule: read it without them.
                for key in ("RSCALE", "SKIP"):
                    rule.pop(key, None)
            kept.append(rule)
    _replace(component, "RRULE", kept)
    for name, what, did in (
        ("RDATE", "an extra date", "the hub left that date out"),
        ("EXDATE", "an excluded date", "the hub ignored the exclusion, so that date may still appear"),
    ):
        kept = []
        for prop in many(component.get(name)):
            problem = dates_problem(prop)
            if problem:
                said.append(f"has {what} the hub cannot read ({written(name, prop)}: {problem}); {did}")
            else:
                kept.append(prop)
        _replace(component, name, kept)
    return said, skipped


def until_day(component) -> None:
    """A repeat rule that ends on a date (UNTIL=20240403) on a series of date-times: UNTIL is
    inclusive and should be of DTSTART's kind, but producers write the day alone, meaning "up to
    and including that day". It was read as that day's first moment (earlier still for a series
    zoned west of UTC), and the last occurrences were lost. It becomes the end of that day in the series' zone."""
    start = _dt(component.get("DTSTART"))
    if not isinstance(start, datetime.datetime):
        return
    for rule in many(component.get("RRULE")):
        if isinstance(rule, vBroken):
            continue
        until = many(rule.get("UNTIL"))
        if len(until) != 1 or isinstance(until[0], datetime.datetime) or not isinstance(until[0], datetime.date):
            continue
        last = datetime.datetime.combine(until[0], datetime.time(23, 59, 59), tzinfo=start.tzinfo)
        rule["UNTIL"] = [last.astimezone(datetime.UTC) if last.tzinfo is not None else last]


def skip_rules(component) -> str:
    """Drop every repeat rule of a component (their expansion failed); the phrase saying so."""
    rules = many(component.get("RRULE"))
    _replace(component, "RRULE", [])
    shown = ", ".join(written("RRULE", r) for r in rules) or "RRULE"
    return f"repeats by a rule the hub cannot expand ({shown}); {first_date(component)}"


def first_date(component) -> str:
    start = getattr(component.get("DTSTART"), "dt", None)
    when = f", {start.isoformat()}" if isinstance(start, datetime.date) else ""
    return f"the hub skipped the rule, imported only the first date{when}, and kept the occurrences it already had"


def rule_problem(rule) -> str:
    """Why a repeat rule cannot be expanded, in words; "" when it can (as far as can be told)."""
    if isinstance(rule, vBroken):
        parts = _parts(str(rule))
    else:
        parts = {key.upper(): [str(v) for v in many(value)] for key, value in dict(rule).items()}
    freq = (parts.get("FREQ") or [""])[0].upper()
    scale = (parts.get("RSCALE") or [""])[0].upper()
    skip = (parts.get("SKIP") or ["OMIT"])[0].upper()
    if scale and scale != "GREGORIAN":
        return f"it counts in the {scale.title()} calendar (RSCALE={scale}), which the hub cannot expand"
    if scale and skip != "OMIT":
        return f"it moves dates that do not exist (SKIP={skip}), which the hub cannot do"
    if not freq:
        return "it has no frequency (FREQ)"
    if freq not in FREQUENCIES:
        return f"{freq!r} is not a frequency (FREQ)"
    interval = str((parts.get("INTERVAL") or ["1"])[0]).strip()
    if interval.lstrip("-").isdigit() and int(interval) < 1:
        # dateutil would loop for ever on INTERVAL=0: never handed to it.
        return f"it repeats every {interval} periods (INTERVAL={interval}), and an interval must be 1 or more"
    if isinstance(rule, vBroken):
        until = (parts.get("UNTIL") or [""])[0]
        if until and not until.replace("T", "").replace("Z", "").isdigit():
            return f"its end (UNTIL={until}) is not a date"
        return "one of its parts is not valid"
    return ""


def too_many(rule, span: datetime.timedelta) -> str:
    """Why a readable rule is too dense to expand over `span`, in words; "" when it is not."""
    parts = {key.upper(): many(value) for key, value in dict(rule).items()}
    freq = str(parts["FREQ"][0]).upper()
    try:
        interval = max(1, int(str((parts.get("INTERVAL") or [1])[0])))
    except ValueError:
        interval = 1
    estimate = span.total_seconds() / (PERIODS[freq] * interval)
    for part, period in MULTIPLIERS.items():
        if part in parts and PERIODS[freq] > period:
            estimate *= len(parts[part])
    if parts.get("COUNT"):
        estimate = min(estimate, int(str(parts["COUNT"][0])))
    if estimate <= MAX_OCCURRENCES:
        return ""
    return (
        f"it would make about {int(estimate):,} occurrences in the sync window, more than the "
        f"{MAX_OCCURRENCES:,} the hub reads for one event"
    )


def dates_problem(prop) -> str:
    if isinstance(prop, vBroken):
        return "it is not a date"
    for entry in getattr(prop, "dts", []):
        value = entry.dt[0] if isinstance(entry.dt, tuple) else entry.dt
        if isinstance(value, datetime.time):
            return "a time of day without a date"
        if not isinstance(value, datetime.date):
            return "it is not a date"
        if isinstance(entry.dt, tuple) and _ends_before_start(*entry.dt):
            return "a period that ends before it starts"
    return ""


def _ends_before_start(start, end) -> bool:
    if isinstance(end, datetime.timedelta):
        return end < datetime.timedelta(0)
    try:
        return end < start
    except TypeError:  # a date against a date-time: not ours to judge
        return False


def _parts(text: str) -> dict[str, list[str]]:
    parts = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        parts[key.strip().upper()] = value.split(",")
    return parts


def _replace(component, name: str, values: list):
    if name in component:
        del component[name]
    if values:
        component[name] = values[0] if len(values) == 1 else values


def end_kind(component) -> list[str]:
    """A DTEND of another kind than DTSTART (a date-time end on an all-day event, or a date end on
    a timed one): RFC 5545 wants the same kind, producers mix them. Read as the start's kind: the
    day the end reaches (exclusive, as all-day ends are), or the start of the end's day in the
    start's zone. Left alone, a single event kept its mixed times while recurring-ical-events
    turned a repeating all-day event into one timed at midnight UTC."""
    start, prop = _dt(component.get("DTSTART")), component.get("DTEND")
    end = _dt(prop)
    if not isinstance(start, datetime.date) or not isinstance(end, datetime.date):
        return []
    timed = isinstance(start, datetime.datetime)
    if timed == isinstance(end, datetime.datetime):
        return []
    if timed:
        value = vDDDTypes(datetime.datetime.combine(end, datetime.time(), tzinfo=start.tzinfo))
        tzid = getattr(component.get("DTSTART"), "params", {}).get("TZID")
        if start.tzinfo is None and tzid:
            value.params["TZID"] = tzid  # a zone the hub resolves later
        shown = "the start of that day"
    else:
        day = end.date()
        value = vDDDTypes(day if end.time() == datetime.time() else day + datetime.timedelta(days=1))
        value.params["VALUE"] = "DATE"
        shown = f"ending with {(value.dt - datetime.timedelta(days=1)).isoformat()}"
    said = f"has an end of another kind than its start ({written('DTEND', prop)}); the hub read it as {shown}"
    component["DTEND"] = value
    return [said]


def backwards(component) -> list[str]:
    """An end before the start (DTEND earlier than DTSTART, or a negative DURATION), set aside:
    the event starts at DTSTART, the anchor its repeat rule and every reader go by, and lasts no
    time (an all-day event, its day), as RFC 5545 reads an event without an end. Left alone,
    a single event was stored ending before it starts, and recurring-ical-events moved each
    occurrence's start to the end."""
    start = _dt(component.get("DTSTART"))
    if not isinstance(start, datetime.date):
        return []
    for name in ("DTEND", "DURATION"):
        prop = component.get(name)
        value = _dt(prop)
        if value is None:
            continue
        if isinstance(value, datetime.timedelta):
            wrong = value < datetime.timedelta(0)
        elif isinstance(value, datetime.date) and isinstance(value, datetime.datetime) == isinstance(
            start, datetime.datetime
        ):
            try:
                wrong = value < start
            except TypeError:  # a floating time against a zoned one: not ours to judge
                wrong = False
        else:
            wrong = False
        if wrong:
            shown = written(name, prop)
            del component[name]
            lasts = "its one day" if not isinstance(start, datetime.datetime) else "no time"
            return [f"ends before it starts ({shown}); the hub kept its start and read it as lasting {lasts}"]
    return []


def _dt(prop):
    """A property's value, None when there is none that can be read (vBroken raises on .dt)."""
    if prop is None or isinstance(prop, vBroken | list):
        return None
    try:
        return getattr(prop, "dt", None)
    except ValueError:
        return None
