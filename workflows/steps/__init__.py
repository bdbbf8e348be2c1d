"""Workflow step kinds. Each kind keeps its own config schema (in the schema language of
integrations/schema.py, so one form generator renders them all) and its own behaviour, in its
own module. Shared code (views, runner) only ever asks the registry below: no if/elif on kinds.

Source steps:
    direct_query   the connector can_query(): config = the blueprint's source_schema
    synced_items   the connector can_sync(): config = workflows.steps.synced_items.SCHEMA
Output step:
    deliver        the connector can_send(): config = the blueprint's output_schema
"""

from __future__ import annotations

from workflows.steps.base import Collected, StepUnavailable, connector_class, public_fields
from workflows.steps.direct_query import DirectQuery
from workflows.steps.output import Deliver
from workflows.steps.synced_items import SyncedItems

SOURCE_STEPS = {step.kind: step for step in (DirectQuery(), SyncedItems())}  # first match wins
OUTPUT_STEP = Deliver()

__all__ = ["OUTPUT_STEP", "SOURCE_STEPS", "Collected", "StepUnavailable", "public_fields"]


def source_step_for(integration):
    """The step kind a new source step on this integration gets."""
    if not integration.type.is_source:
        raise StepUnavailable(f"{integration.type.display_name} does not provide content.")
    cls = connector_class(integration)
    for step in SOURCE_STEPS.values():
        if step.accepts(cls):
            return step
    raise StepUnavailable(f"{integration.type.display_name} cannot be read by workflows yet.")


def source_step(source):
    return SOURCE_STEPS.get(source.kind) or SOURCE_STEPS["synced_items"]


def output_step_for(integration):
    if not integration.type.is_output or not connector_class(integration).can_send():
        raise StepUnavailable(f"{integration.type.display_name} cannot deliver content yet.")
    return OUTPUT_STEP


def can_be_source(integration) -> bool:
    try:
        source_step_for(integration)
    except StepUnavailable:
        return False
    except Exception:  # noqa: BLE001 - a broken handler just means "not offered"
        return False
    return True


def can_be_output(integration) -> bool:
    try:
        output_step_for(integration)
    except Exception:  # noqa: BLE001 - a broken handler just means "not offered"
        return False
    return True
