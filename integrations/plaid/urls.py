from django.urls import path

from integrations.plaid import link, webhook

urlpatterns = [
    path("link/start/", link.start, name="plaid_link_start"),
    path("link/return/", link.finish, name="plaid_link_return"),
    path("webhook/", webhook.webhook, name="plaid_webhook"),
]
