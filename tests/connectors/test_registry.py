"""The registry: keys from code, never dotted paths from the database; a broken connector module
is skipped and reported instead of taking the hub down."""

import sys

import pytest

from connectors.base import Connector
from connectors.errors import ConfigError
from connectors.registry import Registry, registry


def test_every_connector_module_imports():
    assert registry.failed == {}


def test_unknown_keys_fail_with_a_fix_for_the_operator():
    with pytest.raises(ConfigError, match=r"No connector is registered for 'connectors\.ical_feed\.ICalFeedConnector'"):
        registry.get("connectors.ical_feed.ICalFeedConnector")


def test_a_key_cannot_be_registered_twice():
    local = Registry()
    local.register("dup")(type("A", (Connector,), {}))
    with pytest.raises(ValueError, match="already registered"):
        local.register("dup")(type("B", (Connector,), {}))


def test_a_broken_module_is_skipped_and_reported(tmp_path, monkeypatch):
    package = tmp_path / "fake_connectors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text(
        "from connectors.base import Connector\n"
        "from tests.connectors.test_registry import LOCAL\n"
        "@LOCAL.register('good')\nclass Good(Connector):\n    pass\n"
    )
    (package / "broken.py").write_text("import a_library_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_connectors

    LOCAL.autodiscover(fake_connectors)
    assert "good" in LOCAL._classes
    assert "ModuleNotFoundError" in LOCAL.failed["broken"]
    sys.modules.pop("fake_connectors", None)


def test_the_check_framework_reports_broken_connector_modules(monkeypatch):
    from integrations.checks import connector_modules_import

    monkeypatch.setitem(registry.failed, "spotify_music", "ImportError: boom")
    errors = connector_modules_import(None)
    assert [e.id for e in errors] == ["metacortex.E002"]
    assert "connectors.spotify_music failed to import" in errors[0].msg


LOCAL = Registry()
