from django.urls import re_path

from integrations.api import views

app_name = "api"

# Paths as the mission names them (no trailing slash); a trailing slash is accepted too.
urlpatterns = [
    re_path(r"^integrations/?$", views.integrations, name="integrations"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/?$", views.integration, name="integration"),
    re_path(r"^integrations/(?P<type_ref>[-a-zA-Z0-9_]+)/connect/?$", views.connect, name="connect"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/disconnect/?$", views.disconnect, name="disconnect"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/sync/?$", views.sync, name="sync"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/jobs/?$", views.jobs, name="jobs"),
    re_path(r"^jobs/(?P<job_id>[0-9]+)/?$", views.job, name="job"),
    # Last: anything else under /api/v1/ is a JSON 404, never Django's HTML page.
    re_path(r"^", views.no_such_endpoint, name="no_such_endpoint"),
]
