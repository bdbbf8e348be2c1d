"""What depends on an integration, asked of the apps that registered to answer (workflows does, in
its AppConfig.ready): `integrations` never imports them. The delete and disconnect warning lists
these dependents, the detail page shows them, and the attention banner and notifications page list
those a change to an integration paused. What a dependent does when an integration goes away is
its own business: it reacts to the lifecycle signals in integrations.signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Dependent:
    """One thing that uses an integration, as the hub's pages show it."""

    pk: int
    name: str
    url: str = ""
    description: str = ""
    is_active: bool = True
    needs_attention: bool = False
    attention_reason: str = ""


class Provider(Protocol):
    def using(self, integration) -> list[Dependent]:
        """What uses this integration, by name."""

    def needing_attention(self, user) -> list[Dependent]:
        """The user's dependents a change to one of their integrations paused."""


_providers: list[Provider] = []


def register(provider: Provider) -> None:
    """Add a provider (one of each kind: registering again, as a second ready() would, is a no-op)."""
    if not any(type(known) is type(provider) for known in _providers):
        _providers.append(provider)


def using(integration) -> list[Dependent]:
    return [dependent for provider in _providers for dependent in provider.using(integration)]


def needing_attention(user) -> list[Dependent]:
    return [dependent for provider in _providers for dependent in provider.needing_attention(user)]
