def notifications(request):
    """Integrations needing the user's attention, for the banner on every page (one query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from integrations.models import Integration

    def attention():
        return list(Integration.objects.for_user(user).needing_attention().select_related("type"))

    return {"attention_integrations": attention}
