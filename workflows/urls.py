from django.urls import path

from workflows.views import pages, runs, step_views

app_name = "workflows"

urlpatterns = [
    path("", pages.workflow_list, name="list"),
    path("new/", pages.edit, name="create"),
    path("cron-preview/", pages.cron_preview, name="cron_preview"),
    path("<int:pk>/", pages.detail, name="detail"),
    path("<int:pk>/edit/", pages.edit, name="edit"),
    path("<int:pk>/delete/", pages.delete, name="delete"),
    path("<int:pk>/run/", pages.run_now, name="run"),
    path("<int:pk>/resume/", pages.resume, name="resume"),
    path("<int:pk>/pause/", pages.pause, name="pause"),
    path("<int:pk>/recent-runs/", pages.runs_partial, name="runs_partial"),
    path("<int:pk>/summary/", pages.stats_partial, name="stats_partial"),
    path("<int:pk>/recent-cards/", pages.recent_cards_partial, name="cards_partial"),
    path("<int:pk>/sources/add/", step_views.source_form, name="source_add"),
    path("<int:pk>/sources/<int:sid>/", step_views.source_form, name="source_edit"),
    path("<int:pk>/sources/<int:sid>/remove/", step_views.source_remove, name="source_remove"),
    path("<int:pk>/outputs/add/", step_views.output_form, name="output_add"),
    path("<int:pk>/outputs/<int:oid>/", step_views.output_form, name="output_edit"),
    path("<int:pk>/outputs/<int:oid>/remove/", step_views.output_remove, name="output_remove"),
    path("<int:pk>/preview/", step_views.preview, name="preview"),
    path("<int:pk>/outputs/<int:oid>/preview/", step_views.preview, name="output_preview"),
    path("<int:pk>/runs/", runs.executions, name="executions"),
    path("<int:pk>/runs/<int:eid>/", runs.execution, name="execution"),
    path("<int:pk>/deliveries/retry/", runs.retry_deliveries, name="deliveries_retry"),
    path("<int:pk>/cards/", runs.cards, name="cards"),
    path("<int:pk>/cards/<int:cid>/refresh/", runs.card_refresh, name="card_refresh"),
]
