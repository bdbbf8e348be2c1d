"""Per-integration request metrics, buffered in memory and flushed to a MetricsSink
(connectors.ports; the hub's writes RequestStat rows)."""

from __future__ import annotations

import threading
import time

from django.utils import timezone

from connectors.ports import MetricsSink

FLUSH_EVERY = 2.0  # seconds


class MetricsRecorder:
    def __init__(self, integration_id: int | None, sink: MetricsSink | None = None):
        # Nothing is counted without somewhere to put it (a connection tested before it is saved).
        self.integration_id = integration_id if sink is not None else None
        self.sink = sink
        self._lock = threading.Lock()
        self._reset()
        self._last_flush = time.monotonic()

    def _reset(self):
        self.requests = self.errors = self.rate_limited = 0
        self.total_ms = 0
        self.last_success_at = None

    def record(self, *, duration_ms: float, ok: bool, rate_limited: bool = False):
        if self.integration_id is None:
            return
        with self._lock:
            self.requests += 1
            self.total_ms += int(duration_ms)
            self.errors += 0 if ok else 1
            self.rate_limited += 1 if rate_limited else 0
            if ok:
                self.last_success_at = timezone.now()
        if time.monotonic() - self._last_flush > FLUSH_EVERY:
            self.flush()

    def flush(self):
        if self.integration_id is None:
            return
        with self._lock:
            if not self.requests:
                return
            values = dict(
                requests=self.requests, errors=self.errors, rate_limited=self.rate_limited, total_ms=self.total_ms
            )
            last_success = self.last_success_at
            self._reset()
            self._last_flush = time.monotonic()
        self.sink.add(self.integration_id, values, last_success)
