"""Connector registry: handler key (stored on the blueprint) -> connector class.

Keys are registered in code by each connector module; the database only ever names a key, so
nothing from the database is ever imported as a dotted path. Every module and package inside
`connectors/` is imported once at start-up, so a new connector needs no edit here.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

from connectors.errors import ConfigError

log = logging.getLogger(__name__)
CORE_MODULES = {"apps", "base", "errors", "http", "metrics", "net", "ratelimit", "registry"}


class Registry:
    def __init__(self):
        self._classes: dict[str, type] = {}
        self._discovered = False
        self.failed: dict[str, str] = {}  # module -> error, for modules that would not import

    def register(self, key: str):
        def decorator(cls):
            existing = self._classes.get(key)
            if existing is not None and existing is not cls:
                raise ValueError(f"connector key {key!r} is already registered by {existing.__qualname__}")
            cls.key = key
            self._classes[key] = cls
            return cls

        return decorator

    def autodiscover(self, package=None):
        if self._discovered and package is None:
            return
        if package is None:
            import connectors as package

        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in CORE_MODULES and not module.name.startswith("_"):
                try:
                    importlib.import_module(f"{package.__name__}.{module.name}")
                except Exception as exc:
                    # One broken connector must not take the hub down: its types fail with "no
                    # connector registered", and `manage.py check` reports the import error.
                    log.exception("Connector module connectors.%s failed to import", module.name)
                    self.failed[module.name] = f"{type(exc).__name__}: {exc}"
        self._discovered = True

    def get(self, key: str):
        self.autodiscover()
        try:
            return self._classes[key]
        except KeyError:
            raise ConfigError(
                f"No connector is registered for {key!r}.",
                remediation="Ask the operator to fix this integration type's handler in the admin.",
            ) from None

    def keys(self):
        self.autodiscover()
        return self._classes.keys()

    def choices(self):
        return [(key, self._classes[key].__name__) for key in sorted(self.keys())]

    def __contains__(self, key):
        self.autodiscover()
        return key in self._classes


registry = Registry()
