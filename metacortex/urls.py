from django.contrib import admin
from django.urls import include, path

from integrations.views.preferences import preferences
from metacortex import views
from metacortex.api import api
from timeline import ifttt_oauth

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers and feed readers ask for /favicon.ico whatever the page's <link rel=icon> says.
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/delete/", views.delete_account, name="delete_account"),
    path("accounts/preferences/", preferences, name="preferences"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("integrations/", include("integrations.urls")),
    path("workflows/", include("workflows.urls")),
    path("timeline/", include("timeline.urls")),
    path("oauth/", include("integrations.oauth.urls")),
    path("plaid/", include("integrations.plaid.urls")),
    path("api/v1/", api.urls),  # every route, on django-ninja
    path("api/v1/", include("integrations.api.urls")),  # then a JSON 404 for anything else
    path("ifttt/v1/", include("timeline.ifttt_urls")),
    path("ifttt/oauth/authorize", ifttt_oauth.authorize, name="ifttt_authorize"),
    path("ifttt/oauth/token", ifttt_oauth.token, name="ifttt_token"),
]
