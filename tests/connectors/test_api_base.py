"""One api_base for every connector: the OAuth app's api_base_url (admin) wins, then the
CONNECTOR_API_BASES setting by name, then the provider's default; Google's connectors use it too."""

from types import SimpleNamespace

from connectors.webapi import api_base

GOOGLE = "https://photospicker.googleapis.com"


def test_the_default_without_any_override(settings):
    settings.CONNECTOR_API_BASES = {}
    assert api_base("google", GOOGLE + "/") == GOOGLE
    assert api_base("google", GOOGLE, SimpleNamespace(tokens=None)) == GOOGLE


def test_the_setting_replaces_the_default_by_name(settings):
    settings.CONNECTOR_API_BASES = {"google": "http://127.0.0.1:9/g/", "notion": "http://127.0.0.1:9/n"}
    assert api_base("google", GOOGLE) == "http://127.0.0.1:9/g"
    assert api_base("github", "https://api.github.com") == "https://api.github.com"


def test_the_oauth_apps_own_base_wins_over_the_setting(settings):
    settings.CONNECTOR_API_BASES = {"google": "http://127.0.0.1:9/g"}
    ctx = SimpleNamespace(tokens=SimpleNamespace(api_base_url="http://127.0.0.1:7/app/"))
    assert api_base("google", GOOGLE, ctx) == "http://127.0.0.1:7/app"
    blank = SimpleNamespace(tokens=SimpleNamespace(api_base_url=""))
    assert api_base("google", GOOGLE, blank) == "http://127.0.0.1:9/g"
