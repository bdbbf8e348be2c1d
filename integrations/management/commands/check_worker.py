import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_q.tasks import async_task, result


class Command(BaseCommand):
    help = "Queue a ping task and wait for a django-q2 worker to run it (proves the worker is up)."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=30.0, help="Seconds to wait for the result")

    def handle(self, *args, wait, **options):
        marker = uuid.uuid4().hex
        try:
            task_id = async_task("integrations.tasks.ping", marker, task_name=f"ping-{marker[:8]}")
        except Exception as exc:  # noqa: BLE001 - whatever the broker raised, it is the answer
            raise CommandError(self._unreachable(exc)) from None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                answer = result(task_id)
            except Exception as exc:  # noqa: BLE001
                raise CommandError(self._unreachable(exc)) from None
            if answer:
                if answer.get("pong") != marker:
                    raise CommandError("A worker answered with the wrong marker.")
                self.stdout.write(self.style.SUCCESS(f"Worker {answer['worker']} ran the task."))
                return
            time.sleep(0.2)
        raise CommandError(
            f"No worker ran the task within {wait:g} s: is `python manage.py worker` (the Procfile's worker) running?"
        )

    @staticmethod
    def _unreachable(exc: Exception) -> str:
        where = "Redis at REDIS_URL" if settings.REDIS_URL else "the database (DATABASE_URL)"
        return (
            f"This process cannot reach the task broker, {where}: {type(exc).__name__}. Start it, or fix the setting."
        )
