"""Apple Health: a generated export.xml of BENCH_HEALTH_MB megabytes (default 1024, a Watch wearer's
five years) imported through the engine, in a child process whose peak RSS (with that of the reader
process it starts, connectors/apple_health/reader.py) is measured, against a
bare lxml iterparse of the same file (the floor). Rounds are interleaved (floor, import, floor,
import...) and the ratio is the median of the per-round ratios, so a slower moment of the machine
weighs on both sides."""

from __future__ import annotations

import time

from lxml import etree

from bench.archives import (
    MB,
    import_in_child,
    median_ratio,
    rounds,
    size_from_env,
    workdir,
    write_health_export,
)


def bare_iterparse(path) -> tuple[float, int]:
    """The floor: lxml's iterparse of every element, cleared once read (no attribute read at all)."""
    started = time.perf_counter()
    count = 0
    for _event, element in etree.iterparse(str(path), events=("end",), huge_tree=True):
        count += 1
        element.clear()
        parent = element.getparent()
        if parent is not None and parent.getparent() is None:  # a top-level element: drop the ones before
            while element.getprevious() is not None:
                del parent[0]
    return time.perf_counter() - started, count


def _integration(name: str):
    from django.contrib.auth import get_user_model

    from integrations import schema
    from integrations.models import Integration, IntegrationType

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    itype = IntegrationType.objects.get(slug="apple-health")
    # Every record type (the default leaves heart rate and energy out, most of a Watch export's bytes).
    config = {**schema.clean(itype.source_schema, {}).values, "record_types": []}
    return Integration.objects.create(user=user, type=itype, name=name, status="connected", config=config)


def run(report):
    size = size_from_env("BENCH_HEALTH_MB", 1024)
    path = workdir() / "export.xml"
    started = time.perf_counter()
    days = write_health_export(path, size)
    actual = path.stat().st_size
    print(f"  generated {actual / MB:,.0f} MB ({days:,} days) in {time.perf_counter() - started:.0f} s")
    pairs, peaks, results = [], [], []
    try:
        for round_number in range(rounds()):
            floor, elements = bare_iterparse(path)
            integration = _integration(f"bench-health-{round_number}")
            result = import_in_child(integration.pk, path)
            print(
                f"  round {round_number + 1}: import {result['seconds']:.1f} s ({result['created']:,} records, "
                f"{result['status']}), iterparse {floor:.1f} s ({elements:,} elements), peak {result['peak_mb']:.0f} MB"
            )
            pairs.append((result["seconds"], floor))
            peaks.append(result["peak_mb"])
            results.append(result)
            integration.delete()  # the next round imports into an empty integration again
    finally:
        path.unlink(missing_ok=True)
    ratio = median_ratio(pairs)
    ours = sorted(p[0] for p in pairs)[len(pairs) // 2]
    floor = sorted(p[1] for p in pairs)[len(pairs) // 2]
    last = results[-1]
    report.add(
        scenario=f"Apple Health export.xml, {actual / MB:,.0f} MB, import ({last['created']:,} records)",
        ours=ours, baseline_name="bare lxml iterparse (floor)", baseline=floor,
        target="<= 3x floor", met=ratio <= 3 and last["status"] == "succeeded", measured_ratio=ratio,
        note=f"median of {len(pairs)} interleaved rounds' ratios: {ratio:.2f}x; the import also groups "
        f"every sample into day series (one record per type, source and day) and hashes and stores them, "
        f"the parse in a reader process beside the worker (both cores; the floor uses one) ({last['status']})",
    )  # fmt: skip
    peak = max(peaks)
    report.add(
        scenario=f"Peak RSS importing the {actual / MB:,.0f} MB export.xml (import and reader processes)",
        ours=peak, unit="MB", target="< 300 MB", met=peak < 300,
    )  # fmt: skip
