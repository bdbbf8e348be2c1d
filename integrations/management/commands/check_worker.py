import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django_q.tasks import async_task, result


class Command(BaseCommand):
    help = "Queue a ping task and wait for a django-q2 worker to run it (proves the worker is up)."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=30.0, help="Seconds to wait for the result")

    def handle(self, *args, wait, **options):
        marker = uuid.uuid4().hex
        task_id = async_task("integrations.tasks.ping", marker, task_name=f"ping-{marker[:8]}")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            answer = result(task_id)
            if answer:
                if answer.get("pong") != marker:
                    raise CommandError("A worker answered with the wrong marker.")
                self.stdout.write(self.style.SUCCESS(f"Worker {answer['worker']} ran the task."))
                return
            time.sleep(0.2)
        raise CommandError(
            f"No worker ran the task within {wait:g} s: is `python manage.py worker` (the Procfile's worker) running?"
        )
