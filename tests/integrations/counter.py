"""A test source shared by the engine tests: N numbered records in batches, with switches that
make it misbehave the way real connectors and real workers do."""

from connectors.base import Batch, Connector, Record
from connectors.registry import registry
from integrations import lifecycle
from integrations.models import Integration, SyncJob
from tests.factories import make_type


@registry.register("test_counter")
class CounterConnector(Connector):
    """Config: "count" records, "batch" per batch; "ping_url" is fetched each time a run starts
    (the peer counts the engine's tries); "steal_after" simulates another worker taking the job
    over before that record; "pause_at" the user pausing the integration there; "explode_at"
    raises a TypeError there; "bug_at" an AttributeError (a bug in our code); "bad_record" makes
    transform() fail on that record."""

    def list_changes(self, cursor):
        if self.config.get("ping_url"):
            self.ctx.http.get(self.config["ping_url"])
        start = (cursor or {}).get("next", 0)
        total = self.config.get("count", 6)
        step = self.config.get("batch", 2)
        for first in range(start, total, step):
            if self.config.get("steal_after") == first:
                SyncJob.objects.filter(integration=self.ctx.integration, status="running").update(worker="thief:1")
            if self.config.get("pause_at") == first:
                lifecycle.pause(Integration.objects.get(pk=self.ctx.integration.pk))
            if self.config.get("explode_at") == first:
                raise TypeError("a bug in the connector")
            if self.config.get("bug_at") == first:
                None.upper()  # an AttributeError, as a real bug would raise it
            items = list(range(first, min(first + step, total)))
            yield Batch(items=items, cursor={"next": first + step}, total=total)

    def transform(self, raw):
        if raw == self.config.get("bad_record"):
            [][raw]  # an IndexError inside transform()
        return Record(external_id=f"n{raw}", kind="number", title=f"Number {raw}")


def make_counter_type():
    return make_type("counter", handler="test_counter", is_available=True, auth_kind="none", auth_schema=[])
