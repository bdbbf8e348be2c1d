"""Connecting an integration the way a user does: the hub's consent page, the real local
authorization server's consent form, the callback; the provider API served by a contract fake."""

from integrations.models import Integration


def connect_with_oauth(client, oauth_server, slug, api=None, *, username="alice", name="", scope=None):
    oauth_server.configure(slug, api_base_url=api.base_url if api is not None else "")
    before = set(Integration.objects.values_list("pk", flat=True))
    response = oauth_server.connect(client, slug, username=username, name=name or f"{slug} of {username}", scope=scope)
    assert response.status_code == 302, response.content[:500]
    created = Integration.objects.exclude(pk__in=before)
    assert created.count() == 1, f"no integration was created; the hub answered {response['Location']}"
    return created.get()


def messages_of(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]
