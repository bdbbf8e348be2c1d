"""The OAuth 2.0 engine's pages (authorization code + PKCE): consent, start, callback, and the
confirmation asked when a re-authentication signs in as another account."""

from django.urls import path

from integrations.oauth import picker, views

app_name = "oauth"

urlpatterns = [
    path("<slug:slug>/consent/", views.consent, name="consent"),
    path("<slug:slug>/start/", views.start, name="start"),
    path("callback/", views.callback, name="callback"),
    path("confirm-account/", views.confirm_account, name="confirm_account"),
    path("google-photos/<int:pk>/pick/", picker.photos_pick, name="photos_pick"),
]
