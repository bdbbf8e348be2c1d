from django.urls import re_path

from integrations.api import uploads, views

app_name = "api"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Paths as the mission names them (no trailing slash); a trailing slash is accepted too.
urlpatterns = [
    re_path(r"^integrations/?$", views.integrations, name="integrations"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/?$", views.integration, name="integration"),
    re_path(r"^integrations/(?P<type_ref>[-a-zA-Z0-9_]+)/connect/?$", views.connect, name="connect"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/disconnect/?$", views.disconnect, name="disconnect"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/sync/?$", views.sync, name="sync"),
    re_path(r"^integrations/(?P<pk>[0-9]+)/jobs/?$", views.jobs, name="jobs"),
    re_path(r"^jobs/(?P<job_id>[0-9]+)/?$", views.job, name="job"),
    re_path(r"^uploads/?$", uploads.create, name="uploads"),
    re_path(rf"^uploads/(?P<upload_id>{UUID})/?$", uploads.upload, name="upload"),
    re_path(r"^imports/?$", uploads.start_import, name="imports"),
    # Last: anything else under /api/v1/ is a JSON 404, never Django's HTML page.
    re_path(r"^", views.no_such_endpoint, name="no_such_endpoint"),
]
