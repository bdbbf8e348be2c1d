"""The periodic sweep of the timeline outboxes: each batch is drained by its own task as soon as it
commits; this catches what a lost task (a broker restart, a killed worker) left behind."""

from metacortex.periodic import Periodic

DRAIN = Periodic("timeline-drain", "timeline.tasks.drain_all", minutes=5)
