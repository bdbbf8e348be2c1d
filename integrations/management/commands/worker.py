"""`manage.py worker`: django-q2's cluster, stopped cleanly by Ctrl-C and by process managers.

django-q2's own `qcluster` stops the cluster inside its signal handler. Under honcho (`make run`)
a Ctrl-C delivers SIGINT to the whole process group and honcho then sends SIGTERM: the second
handler interrupts the first in the middle of setting a multiprocessing Event and both wait on
the same lock, so the worker hangs until honcho kills it, every time. Here the handlers only note
the request; the cluster is stopped once, from the main thread, outside any handler.
"""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.cluster import Cluster


class Command(BaseCommand):
    help = "Run the background worker (a django-q2 cluster) until SIGINT or SIGTERM; stops cleanly."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018 - the cluster signs tasks: refuse to start without it
        requested: list[int] = []

        def request_stop(signum, frame):
            requested.append(signum)

        cluster = Cluster()  # installs django-q2's handlers: replaced right below
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        cluster.start()
        while not requested and cluster.sentinel.is_alive():
            time.sleep(0.2)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()
