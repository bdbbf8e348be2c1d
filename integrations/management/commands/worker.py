"""`manage.py worker`: django-q2's cluster, stopped cleanly by Ctrl-C and by process managers.

django-q2's own `qcluster` stops the cluster inside its signal handler. Under honcho (`make run`)
a Ctrl-C delivers SIGINT to the whole process group and honcho then sends SIGTERM: the second
handler interrupts the first in the middle of setting a multiprocessing Event and both wait on
the same lock, so the worker hangs until honcho kills it, every time. Here the handlers only note
the request; the cluster is stopped once, from the main thread, outside any handler.

Due schedules are enqueued from this main loop every Q_SCHEDULE_EVERY seconds instead of by the
cluster's guard loop, which calls django-q2's scheduler only once its 0.5 s cycles add up to 30 s:
a schedule then waited up to a minute past its time (a workflow "at 07:00" ran at 07:00:59).
"""

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.brokers import Broker, get_broker
from django_q.cluster import Cluster
from django_q.conf import Conf
from django_q.scheduler import scheduler

logger = logging.getLogger(__name__)
SIGNAL_SETTLE_SECONDS = 2  # for a signal sent to the whole group to have ended the sentinel too
STOP_GRACE_SECONDS = 60  # for running tasks to finish before the cluster's processes are killed


class Command(BaseCommand):
    help = "Run the background worker (a django-q2 cluster) until SIGINT or SIGTERM; stops cleanly."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018 - the cluster signs tasks: refuse to start without it
        requested: list[int] = []

        def request_stop(signum, frame):
            requested.append(signum)

        schedules = Conf.SCHEDULER
        Conf.SCHEDULER = False  # the forked guard loop leaves schedules to this loop
        cluster = Cluster()  # installs django-q2's handlers: replaced right below
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        cluster.start()
        broker = get_broker()
        next_look = time.monotonic()
        while not requested and cluster.sentinel.is_alive():
            if schedules and time.monotonic() >= next_look:
                _enqueue_due_schedules(broker)
                next_look = time.monotonic() + settings.Q_SCHEDULE_EVERY
            time.sleep(0.2)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # honcho (and systemd's control-group stop) signal the whole process group: the sentinel, whose
        # SIGTERM is left at its default, dies of the same signal. Stopping it then would wait forever
        # on the stop Event's lock if it died holding it (its guard loop waits on that Event all the
        # time), so a sentinel that is gone is not stopped again.
        cluster.sentinel.join(timeout=SIGNAL_SETTLE_SECONDS)
        if not cluster.sentinel.is_alive():
            logger.info("The worker's cluster stopped with it (the signal reached the whole process group).")
            return
        stopper = threading.Thread(target=cluster.stop, name="cluster-stop", daemon=True)
        stopper.start()
        stopper.join(timeout=STOP_GRACE_SECONDS)
        if stopper.is_alive():
            # Never hang a deployment's stop: a sync job killed here resumes from its last stored batch.
            logger.error("The worker's cluster did not stop in %s s; its processes are killed.", STOP_GRACE_SECONDS)
            for pid in _descendants(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _enqueue_due_schedules(broker: Broker) -> None:
    try:
        scheduler(broker=broker)  # logs and rolls back its own errors
    except Exception:
        # A database that is away for a moment must not end the worker: the next look retries.
        logger.exception("Could not look for due schedules; trying again in %s s.", settings.Q_SCHEDULE_EVERY)


def _descendants(pid: int) -> list[int]:
    """The processes under `pid` (Linux /proc), children before their own children."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
        parents.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(0), [])
        found += children
        queue += children
    return found
