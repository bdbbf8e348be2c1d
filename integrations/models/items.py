"""SyncedItem: a normalized record brought in by a sync, with where it came from."""

import re

from django.conf import settings
from django.db import connections, models
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

# Search: PostgreSQL full-text search on this expression, answered by a GIN index on (user_id,
# exactly it) (migration 0016_items_search_index_per_user; the planner only uses it when the query
# repeats the expression character for character). The 'simple' configuration, as the timeline's
# search: no stemming, names and mixed languages search as typed. Only the first 4,000 characters
# of the summary are indexed (a tsvector has a 1 MB limit, and a mail body's first page is what
# people search).
SEARCH_CONFIG = "simple"
SEARCH_VECTOR = (
    "to_tsvector('simple'::regconfig, (((integrations_synceditem.title)::text || ' '::text)"
    " || left(integrations_synceditem.summary, 4000)))"
)
SEARCH_WORDS = 8
_TSQUERY_SPECIAL = re.compile(r"[':&|!()<>*\\\s]+")


def search_words(query: str) -> list[str]:
    """The words of a search (at most 8), each with at least one letter or digit."""
    return [w for w in query.split()[:SEARCH_WORDS] if re.search(r"\w", w)]


def tsquery(words: list[str]) -> str:
    """Every word, as a prefix ("inv" finds "invoice"): 'inv':* & 'march':*. Characters with a
    meaning in tsquery syntax are dropped (the parser ignores them in the text anyway)."""
    terms = []
    for word in words:
        clean = _TSQUERY_SPECIAL.sub(" ", word.lower()).strip()
        if clean:
            terms.append("'" + clean.replace("'", "''") + "':*")
    return " & ".join(terms)


class SyncedItemQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def for_user(self, user):
        return self.filter(user=user) if user.is_authenticated else self.none()

    def matching(self, query: str):
        """Items whose title or summary holds every word of `query`: full-text search (prefix
        matching) through the GIN index on PostgreSQL, every word as a substring elsewhere."""
        words = search_words(query)
        if not words:
            return self
        if self.db and connections[self.db].vendor == "postgresql":
            terms = tsquery(words)
            if not terms:
                return self
            # The SQL is constants of this module; the words are a parameter.
            return self.filter(
                RawSQL(  # noqa: S611
                    f"{SEARCH_VECTOR} @@ to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)", [terms], BooleanField()
                )
            )
        queryset = self
        for word in words:
            queryset = queryset.filter(Q(title__icontains=word) | Q(summary__icontains=word))
        return queryset


class SyncedItem(models.Model):
    # The owner is kept apart from the integration: deleting an integration may keep its data
    # (the user chooses), and deleting the user always removes it.
    # No single-column index on either key: the composite indexes below lead with them (the user's
    # keyset, the integration's unique key and listings) and serve every lookup and the
    # cascades, and every stored batch would otherwise maintain two more btrees per row.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="synced_items", db_index=False
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        db_index=False,
    )
    kind = models.CharField(max_length=32, help_text="event, message, feed_item, track, photo, ...")
    external_id = models.CharField(max_length=512, help_text="The provider's own id of the record")
    version = models.CharField(max_length=255, blank=True, help_text="Provider version: ETag, MODSEQ, ...")
    occurred_at = models.DateTimeField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    summary = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)

    # Provenance: enough to say where a record came from even after its integration is gone.
    source_type = models.CharField(max_length=64, help_text="Integration type slug")
    source_name = models.CharField(max_length=100, blank=True, help_text="Integration name when fetched")
    source_url = models.URLField(max_length=2000, blank=True)
    fetched_at = models.DateTimeField()
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_job = models.ForeignKey("integrations.SyncJob", on_delete=models.SET_NULL, null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: gone at the source")
    match_key = models.CharField(
        max_length=512, blank=True, default="", help_text="Survives an id change (IMAP: folder + Message-ID)"
    )

    objects = SyncedItemQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=Q(integration__isnull=False),
                name="unique_item_per_integration",
            ),
        ]
        indexes = [
            # The items page and its keyset pages ("older than", integrations.keyset): live
            # items of a user by (occurred_at, id), walked backwards. A partial index: the
            # tombstones are not in it. The second one (replacing user, -occurred_at) serves
            # "show items deleted at the source", tombstones included.
            models.Index(
                fields=["user", "occurred_at", "id"],
                condition=Q(deleted_at__isnull=True),
                name="synceditem_live_keyset",
            ),
            models.Index(fields=["user", "occurred_at", "id"], name="synceditem_user_keyset"),
            models.Index(fields=["integration", "-occurred_at"]),
            models.Index(fields=["integration", "kind"]),
            # Reviving a tombstoned record by its match key (Batch.reset_prefix); most rows have none.
            models.Index(fields=["integration", "match_key"], condition=~Q(match_key=""), name="synceditem_match_key"),
        ]

    def __str__(self):
        return self.title or self.external_id

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
