"""Google Takeout Location History: a generated Records.json of BENCH_LOCATION_MB megabytes
(default 200; about a million raw positions) imported through the engine in a child process,
against a bare streaming JSON parse of the same file with ijson (the floor: every position built
as a dict, nothing else). Interleaved rounds, ratio = median of the per-round ratios.

On a shared machine wall times swing by 2x between rounds; the note adds the CPU time (process
time) of the connector's parse of the same file in this process against that of the bare parse,
which load hardly moves (the engine's share, storing the visits, is not in it)."""

from __future__ import annotations

import time

import ijson

from bench.archives import (
    MB,
    import_in_child,
    median_ratio,
    rounds,
    size_from_env,
    workdir,
    write_location_history,
)


def bare_ijson(path, clock=time.perf_counter) -> tuple[float, int]:
    started = clock()
    count = 0
    with open(path, "rb") as stream:
        for _point in ijson.items(stream, "locations.item", use_float=True):
            count += 1
    return clock() - started, count


def parse_cpu(path) -> float:
    """Process time of the connector's parse of the file (every visit built), without the engine."""
    from connectors import archives
    from connectors.google_takeout import location

    member = archives.Member("", str(path), path.stat().st_size)
    started = time.process_time()
    with open(path, "rb") as stream:
        for _ in location.read(member, stream):
            pass
    return time.process_time() - started


def _integration(name: str):
    from django.contrib.auth import get_user_model

    from integrations import schema
    from integrations.models import Integration, IntegrationType

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    itype = IntegrationType.objects.get(slug="google-location-history")
    config = schema.clean(itype.source_schema, {}).values
    return Integration.objects.create(user=user, type=itype, name=name, status="connected", config=config)


def run(report):
    size = size_from_env("BENCH_LOCATION_MB", 200)
    path = workdir() / "Records.json"
    started = time.perf_counter()
    points = write_location_history(path, size)
    actual = path.stat().st_size
    print(f"  generated {actual / MB:,.0f} MB ({points:,} points) in {time.perf_counter() - started:.0f} s")
    pairs, peaks, results, cpu_pairs = [], [], [], []
    try:
        for round_number in range(rounds()):
            floor, parsed = bare_ijson(path)
            integration = _integration(f"bench-location-{round_number}")
            result = import_in_child(integration.pk, path)
            print(
                f"  round {round_number + 1}: import {result['seconds']:.1f} s ({result['created']:,} records, "
                f"{result['status']}), ijson {floor:.1f} s ({parsed:,} points), peak {result['peak_mb']:.0f} MB"
            )
            pairs.append((result["seconds"], floor))
            cpu_pairs.append((parse_cpu(path), bare_ijson(path, time.process_time)[0]))
            peaks.append(result["peak_mb"])
            results.append(result)
            integration.delete()
    finally:
        path.unlink(missing_ok=True)
    ratio = median_ratio(pairs)
    cpu_ratio = median_ratio(cpu_pairs)
    cpu_ours, cpu_floor = sorted(cpu_pairs)[len(cpu_pairs) // 2]
    print(f"  CPU time: parse {cpu_ours:.1f} s vs bare ijson {cpu_floor:.1f} s, median ratio {cpu_ratio:.2f}x")
    ours = sorted(p[0] for p in pairs)[len(pairs) // 2]
    floor = sorted(p[1] for p in pairs)[len(pairs) // 2]
    last = results[-1]
    report.add(
        scenario=f"Takeout Records.json, {actual / MB:,.0f} MB ({points:,} points), import "
        f"({last['created']:,} visits)",
        ours=ours, baseline_name=f"bare ijson parse, {ijson.backend} (floor)", baseline=floor,
        target="<= 3x floor", met=ratio <= 3 and last["status"] == "succeeded", measured_ratio=ratio,
        note=f"median of {len(pairs)} interleaved rounds' ratios: {ratio:.2f}x; peak RSS of the import "
        f"process {max(peaks):.0f} MB ({last['status']}); CPU time of the parse alone vs the bare parse "
        f"(median ratio, unmoved by load): {cpu_ratio:.2f}x",
    )  # fmt: skip
