"""A terminal progress bar for the sync and backfill commands (plain lines when not a terminal)."""

import sys
import time


class ProgressPrinter:
    def __init__(self, stream, *, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last = 0.0

    def __call__(self, job):
        now = time.monotonic()
        finished = not job.is_active
        if not finished and not self.tty and now - self._last < 2.0:
            return
        self._last = now
        counts = (
            f"{job.seen} seen, {job.created} new, {job.updated} updated, {job.deleted} deleted, {job.failed} failed"
        )
        if job.progress_total:
            fraction = min(1.0, job.progress_done / job.progress_total)
            bar = "#" * int(fraction * self.width)
            line = f"[{bar:<{self.width}}] {fraction:6.1%}  {counts}"
        else:
            line = f"[{'...':<{self.width}}] {counts}"
        if self.tty:
            self.stream.write("\r" + line)
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush() if hasattr(self.stream, "flush") else None


def stdout_progress(command):
    return ProgressPrinter(getattr(command.stdout, "_out", sys.stdout))
