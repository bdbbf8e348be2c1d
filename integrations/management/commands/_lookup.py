from django.core.management.base import CommandError

from integrations.models import Integration


def find_integration(value: str) -> Integration:
    """An integration by id, or by name when that name is unique."""
    queryset = Integration.objects.select_related("type", "user")
    if value.isdigit():
        found = queryset.filter(pk=int(value)).first()
    else:
        matches = list(queryset.filter(name__iexact=value)[:2])
        if len(matches) > 1:
            raise CommandError(f"Several integrations are named {value!r}; use the id instead.")
        found = matches[0] if matches else None
    if found is None:
        raise CommandError(f"No integration {value!r}. List them in the admin or with the API.")
    return found
