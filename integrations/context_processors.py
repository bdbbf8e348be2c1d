from functools import cached_property

from integrations import dependents
from integrations.models import Integration


class Attention:
    """What needs the user's attention, for the banner and the nav count on every page: integrations
    to re-authenticate or that keep failing, and workflows paused because of a change to one of them
    (what the notifications page lists). Two queries, run only when a page shows them."""

    def __init__(self, user):
        self.user = user

    @cached_property
    def integrations(self) -> list:
        return list(Integration.objects.for_user(self.user).needing_attention().select_related("type"))

    @cached_property
    def workflows(self) -> list:
        return dependents.needing_attention(self.user)

    @property
    def count(self) -> int:
        return len(self.integrations) + len(self.workflows)

    def __bool__(self):
        return self.count > 0


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"hub_attention": Attention(user)}
