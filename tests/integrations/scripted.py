"""A test source that yields exactly the batches its config lists: {"batches": [{"items": [[id,
title], ...], "deletes": [id, ...], "reset_prefix": ..., "match": {id: key}}, ...]}."""

from connectors.base import Batch, Connector, Record
from connectors.registry import registry
from tests.factories import make_type


@registry.register("test_scripted")
class ScriptedConnector(Connector):
    def list_changes(self, cursor):
        start = (cursor or {}).get("next", 0)
        batches = self.config.get("batches", [])
        for index in range(start, len(batches)):
            spec = batches[index]
            yield Batch(
                items=[tuple(item) for item in spec.get("items", [])],
                deletes=list(spec.get("deletes", [])),
                reset_prefix=spec.get("reset_prefix"),
                cursor={"next": index + 1},
            )

    def transform(self, raw):
        external_id, title, *rest = raw
        return Record(external_id=external_id, kind="note", title=title, match_key=rest[0] if rest else "")


def make_scripted_type():
    return make_type("scripted", handler="test_scripted", is_available=True, auth_kind="none", auth_schema=[])
