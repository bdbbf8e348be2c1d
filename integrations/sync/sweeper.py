"""Finding dead workers' jobs within seconds, from inside the cluster.

Why a thread in every worker process rather than a Schedule: django-q2 looks at its Schedules
only every 30 s and a Schedule runs at most once a minute, so a job killed with its worker was
taken over 33-62 s later at best, and only while the integration was schedulable. Each qcluster
worker process (django-q2's post_spawn signal) starts one daemon thread that runs jobs.sweep()
every min(SYNC_SWEEP_EVERY, SYNC_STALE_AFTER / 4) seconds: running jobs whose heartbeat is older
than SYNC_STALE_AFTER go back to the queue (whatever the integration's state: the worker that
claims a paused integration's job cancels it), and queued jobs whose task was lost are queued again.

A running job's heartbeat is beaten by a thread of its own worker process (run.Pulse), so it goes
stale exactly when that process is gone, even if the job waits a minute on one slow read. With
the defaults (10 s, 4 s) a killed worker's job is handed out within about 15 s. Any number of
sweepers may run at once: sweep() hands each job out once (a conditional UPDATE), and claim() lets
one worker run it, so no integration ever syncs twice at the same time. The worker process that
django-q2 starts in place of a dead one gets its own sweeper.
"""

from __future__ import annotations

import logging
import random
import threading

from django.conf import settings
from django.db import close_old_connections, connection

log = logging.getLogger(__name__)

_started = threading.Event()


def interval() -> float:
    return max(0.2, min(float(settings.SYNC_SWEEP_EVERY), float(settings.SYNC_STALE_AFTER) / 4))


def tick() -> int:
    from integrations.sync import jobs

    return jobs.sweep()


def _loop(stop: threading.Event):
    stop.wait(random.uniform(0, interval()))  # workers started together do not sweep in step
    while not stop.is_set():
        try:
            close_old_connections()
            tick()
        except Exception:  # the database or broker is down: try again next round
            log.warning("Sync sweeper round failed; retrying in %.1f s", interval(), exc_info=True)
        finally:
            connection.close()
        stop.wait(interval())


def start(stop: threading.Event | None = None) -> threading.Thread | None:
    """Start this process's sweeper (once per process)."""
    if _started.is_set():
        return None
    _started.set()
    thread = threading.Thread(target=_loop, args=(stop or threading.Event(),), name="sync-sweeper", daemon=True)
    thread.start()
    return thread


def on_worker_spawned(sender, proc_name=None, **kwargs):
    start()
