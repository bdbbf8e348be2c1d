"""Generated archive exports for the import benchmarks, written streamingly (a 1 GB file never sits
in memory), and one import run in a child process so its peak RSS is the import's own.

    python -m bench.archives <integration id> <path>   (the child: prints {"seconds", "peak_mb", ...})
"""

from __future__ import annotations

import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MB = 1024 * 1024


def workdir() -> Path:
    path = Path(os.environ.get("BENCH_WORKDIR") or ".")
    path.mkdir(parents=True, exist_ok=True)
    return path


def size_from_env(name: str, default_mb: int) -> int:
    return int(float(os.environ.get(name) or default_mb) * MB)


def rounds() -> int:
    return max(int(os.environ.get("BENCH_ARCHIVE_ROUNDS") or 3), 1)


# -- Apple Health export.xml ------------------------------------------------------------------------
HEALTH_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<HealthData locale="en_US">
 <ExportDate value="2026-12-01 10:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierDateOfBirth="1985-04-01"
  HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
"""
# Real exports repeat the source and device on every Record: a large share of the file's bytes.
PHONE = (
    'sourceName="Alex\u2019s iPhone" sourceVersion="17.4" device="&lt;&lt;HKDevice: 0x283c7b0c0&gt;, '
    'name:iPhone, manufacturer:Apple Inc., model:iPhone, hardware:iPhone15,2, software:17.4&gt;"'
)
WATCH = (
    'sourceName="Alex\u2019s Apple Watch" sourceVersion="10.4" device="&lt;&lt;HKDevice: 0x283c7b1f0&gt;, '
    'name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,1, software:10.4&gt;"'
)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S +0100")


def _health_day(day: datetime.date, rng: random.Random) -> list[str]:
    """One day of a Watch wearer's export: heart rate and active energy every 2 minutes, steps from
    the phone and the watch every 10 minutes, the night's sleep stages, the rings, a workout every
    third day. About half a megabyte, close to a real export's density."""
    lines = []
    midnight = datetime.datetime.combine(day, datetime.time())
    for minute in range(0, 24 * 60, 2):
        at = _stamp(midnight + datetime.timedelta(minutes=minute))
        created = _stamp(midnight + datetime.timedelta(minutes=minute + 1))
        lines.append(
            f' <Record type="HKQuantityTypeIdentifierHeartRate" {WATCH} unit="count/min" creationDate="{created}"'
            f' startDate="{at}" endDate="{at}" value="{rng.randint(48, 160)}">\n'
            f'  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="{rng.randint(0, 2)}"/>\n'
            " </Record>\n"
        )
        end = _stamp(midnight + datetime.timedelta(minutes=minute + 2))
        lines.append(
            f' <Record type="HKQuantityTypeIdentifierActiveEnergyBurned" {WATCH} unit="kcal" creationDate="{created}"'
            f' startDate="{at}" endDate="{end}" value="{rng.random() * 3:.3f}"/>\n'
        )
    for minute in range(6 * 60, 23 * 60, 10):
        start = midnight + datetime.timedelta(minutes=minute)
        for source in (PHONE, WATCH):
            lines.append(
                f' <Record type="HKQuantityTypeIdentifierStepCount" {source} unit="count"'
                f' creationDate="{_stamp(start + datetime.timedelta(minutes=10))}" startDate="{_stamp(start)}"'
                f' endDate="{_stamp(start + datetime.timedelta(minutes=10))}" value="{rng.randint(0, 1400)}"/>\n'
            )
    night = midnight - datetime.timedelta(minutes=rng.randint(30, 90))  # the night before, ending this morning
    for stage in ("AsleepCore", "AsleepDeep", "AsleepCore", "AsleepREM", "Awake", "AsleepCore"):
        length = datetime.timedelta(minutes=rng.randint(20, 110))
        lines.append(
            f' <Record type="HKCategoryTypeIdentifierSleepAnalysis" {WATCH} creationDate="{_stamp(night + length)}"'
            f' startDate="{_stamp(night)}" endDate="{_stamp(night + length)}"'
            f' value="HKCategoryValueSleepAnalysis{stage}"/>\n'
        )
        night += length
    if day.toordinal() % 3 == 0:
        start = midnight + datetime.timedelta(hours=18)
        end = start + datetime.timedelta(minutes=35)
        lines.append(
            f' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="35" durationUnit="min"'
            f' {WATCH} creationDate="{_stamp(end)}" startDate="{_stamp(start)}" endDate="{_stamp(end)}">\n'
            '  <MetadataEntry key="HKIndoorWorkout" value="0"/>\n'
            f'  <WorkoutStatistics type="HKQuantityTypeIdentifierDistanceWalkingRunning" startDate="{_stamp(start)}"'
            f' endDate="{_stamp(end)}" sum="{rng.uniform(4, 9):.2f}" unit="km"/>\n'
            f'  <WorkoutStatistics type="HKQuantityTypeIdentifierActiveEnergyBurned" startDate="{_stamp(start)}"'
            f' endDate="{_stamp(end)}" sum="{rng.uniform(250, 500):.1f}" unit="kcal"/>\n'
            " </Workout>\n"
        )
    lines.append(
        f' <ActivitySummary dateComponents="{day.isoformat()}" activeEnergyBurned="{rng.uniform(200, 900):.1f}"'
        ' activeEnergyBurnedGoal="500" activeEnergyBurnedUnit="kcal" appleMoveTime="0" appleMoveTimeGoal="0"'
        f' appleExerciseTime="{rng.randint(0, 90)}" appleExerciseTimeGoal="30" appleStandHours="{rng.randint(4, 16)}"'
        ' appleStandHoursGoal="12"/>\n'
    )
    return lines


def write_health_export(path: Path, size: int) -> int:
    """An export.xml of at least `size` bytes, days going back from 30 Nov 2026; the number of days."""
    rng = random.Random(20261201)
    day, days, written = datetime.date(2026, 11, 30), 0, 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        written += out.write(HEALTH_HEAD)
        while written < size:
            chunk = "".join(_health_day(day, rng))
            written += len(chunk.encode())
            out.write(chunk)
            day -= datetime.timedelta(days=1)
            days += 1
        out.write("</HealthData>\n")
    return days


# -- Google Takeout Records.json --------------------------------------------------------------------
PLACES = [(52.520008, 13.404954), (52.500342, 13.425293), (52.530644, 13.383068), (52.510885, 13.398937),
          (52.475270, 13.365870), (52.543740, 13.412260)]  # fmt: skip


def _point(lat: float, lng: float, at: datetime.datetime, accuracy: int, old: bool) -> str:
    # Google's own layout: pretty-printed, two-space indent; exports before 2019 have timestampMs.
    when = (
        f'"timestampMs": "{int(at.timestamp() * 1000)}"'
        if old
        else f'"timestamp": "{at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}Z"'
    )
    return (
        f'{{\n    "latitudeE7": {round(lat * 1e7)},\n    "longitudeE7": {round(lng * 1e7)},\n'
        f'    "accuracy": {accuracy},\n    "source": "WIFI",\n    "deviceTag": 1184736215,\n    {when}\n  }}'
    )


def write_location_history(path: Path, size: int) -> int:
    """A Records.json of at least `size` bytes: stays of 20 minutes to 8 hours at a few places with a
    point every minute or two (jittered by tens of metres, a few imprecise fixes), and the travel
    between them. Returns the number of points."""
    rng = random.Random(20260101)
    at = datetime.datetime(2016, 1, 1, 7, tzinfo=datetime.UTC)
    place = PLACES[0]
    points, written = 0, 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        written += out.write('{\n  "locations": [')
        separator = ""
        while written < size:
            chunk = []
            stay_end = at + datetime.timedelta(minutes=rng.randint(20, 480))
            while at < stay_end:
                jitter_lat, jitter_lng = rng.gauss(0, 0.0002), rng.gauss(0, 0.0003)
                accuracy = rng.choice((5, 10, 15, 20, 30, 900)) if rng.random() < 0.05 else rng.randint(5, 40)
                chunk.append(_point(place[0] + jitter_lat, place[1] + jitter_lng, at, accuracy, at.year < 2019))
                at += datetime.timedelta(seconds=rng.randint(60, 150))
            target = rng.choice([p for p in PLACES if p != place])
            steps = rng.randint(5, 20)
            for step in range(1, steps):
                fraction = step / steps
                lat = place[0] + (target[0] - place[0]) * fraction
                lng = place[1] + (target[1] - place[1]) * fraction
                chunk.append(_point(lat, lng, at, rng.randint(10, 60), at.year < 2019))
                at += datetime.timedelta(seconds=rng.randint(30, 90))
            place = target
            text = separator + "\n  " + ",\n  ".join(chunk)
            separator = ","
            written += len(text.encode())
            out.write(text)
            points += len(chunk)
        out.write("\n  ]\n}\n")
    return points


# -- the import, in a child process -----------------------------------------------------------------
def import_in_child(integration_pk: int, path: Path) -> dict:
    """Import `path` into the integration through the engine (a backfill job, as the upload page
    queues it) in a fresh Python process: {"seconds" of the job, "peak_mb" of that process, counts}."""
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-m", "bench.archives", str(integration_pk), str(path)],
        env=dict(os.environ), capture_output=True, text=True, timeout=6 * 3600, check=False,
        cwd=str(settings.BASE_DIR),
    )  # fmt: skip
    if result.returncode:
        raise RuntimeError(f"the import process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(ours / floor for ours, floor in pairs if floor)


def peak_rss_mb() -> float:
    """The import process's peak RSS plus the largest peak of the processes it started (Apple
    Health's reader process): an upper bound of what the import held at any one time."""
    # VmHWM, not ru_maxrss: after fork+exec Linux keeps the parent's peak in ru_maxrss.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB, of the waited-for children
    return (int(line.split()[1]) + children) / 1024


def _child(integration_pk: int, path: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metacortex.settings")
    import django

    django.setup()
    from integrations.models import Integration, JobKind
    from integrations.sync.engine import run_job
    from integrations.sync.jobs import queue_sync

    integration = Integration.objects.get(pk=integration_pk)
    job = queue_sync(integration, kind=JobKind.BACKFILL, options={"archive_paths": [path]}, enqueue=False)
    started = time.perf_counter()
    finished = run_job(job.pk)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_rss_mb(),
                "status": finished.status,
                "created": finished.created,
                "seen": finished.seen,
                "error": finished.error_message,
            }
        )
    )


if __name__ == "__main__":
    _child(int(sys.argv[1]), sys.argv[2])
