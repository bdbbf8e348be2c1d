from django.contrib import admin
from django.urls import include, path

from metacortex import views
from metacortex.api import api
from timeline import ifttt_oauth

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/delete/", views.delete_account, name="delete_account"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("integrations/", include("integrations.urls")),
    path("workflows/", include("workflows.urls")),
    path("timeline/", include("timeline.urls")),
    path("oauth/", include("integrations.oauth.urls")),
    path("api/v1/", api.urls),  # first: the routes on django-ninja
    path("api/v1/", include("integrations.api.urls")),
    path("ifttt/v1/", include("timeline.ifttt_urls")),
    path("ifttt/oauth/authorize", ifttt_oauth.authorize, name="ifttt_authorize"),
    path("ifttt/oauth/token", ifttt_oauth.token, name="ifttt_token"),
]
