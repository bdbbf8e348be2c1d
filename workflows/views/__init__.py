"""Workflow web views: pages (list, edit, detail, run), step_views (sources, outputs, preview),
runs (execution log, cards). Every view is scoped to request.user: anything else is a 404."""

from workflows.views.pages import detail

__all__ = ["detail"]
