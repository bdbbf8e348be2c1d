from django.contrib import admin
from django.urls import include, path

from integrations.views.preferences import preferences
from metacortex import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/delete/", views.delete_account, name="delete_account"),
    path("accounts/preferences/", preferences, name="preferences"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("integrations/", include("integrations.urls")),
    path("workflows/", include("workflows.urls")),
    path("oauth/", include("integrations.oauth.urls")),
    path("api/v1/", include("integrations.api.urls")),
]
