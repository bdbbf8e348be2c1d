"""What every step kind shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrations.schema import SECRET_TYPES


class StepUnavailable(Exception):
    """The integration cannot be used for this kind of step; the message says why."""


@dataclass
class Collected:
    drafts: list = field(default_factory=list)
    state: dict | None = None  # the step's new memory, saved once its cards are stored
    detail: str = ""


def connector_class(integration):
    itype = integration.type
    if not (itype.is_available and itype.handler):
        raise StepUnavailable(f"{itype.display_name} is not available yet.")
    return itype.connector_class()


def public_fields(schema: list[dict]) -> list[dict]:
    """Step configs are stored in plain JSON: secret fields never belong in them."""
    return [spec for spec in schema or [] if spec.get("type") not in SECRET_TYPES]


@dataclass
class Run:
    """What a step knows about the run it is part of."""

    workflow: object
    trigger: str
    now: object  # an aware datetime
    execution: object = None
    sleep: object = None
