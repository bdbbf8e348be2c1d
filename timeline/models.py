"""The personal data layer: entities (one per real thing, whatever number of sources hold it),
the places and people they involve, and the links between them."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.fields import SecretTextField


class Place(models.Model):
    """Somewhere the person has been: coordinates close together are one place."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="places")
    name = models.CharField(max_length=300, blank=True, help_text="The name a source gave, else the locality")
    names = models.JSONField(default=list, blank=True, help_text="Every name sources gave this place")
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    # A grid cell of about 100 m: the nearby-place lookup reads the 9 cells around a point.
    cell = models.CharField(max_length=32, blank=True)
    locality = models.CharField(max_length=200, blank=True, help_text="From offline reverse geocoding")
    region = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=100, blank=True)
    country_code = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["user", "cell"]), models.Index(fields=["user", "name"])]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        return self.name or ", ".join(p for p in (self.locality, self.country) if p) or "Unnamed place"


class Person(models.Model):
    """Someone the records name: merged by email address; name-only mentions (a photo's sidecar)
    are merged by name."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="people")
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    name_key = models.CharField(max_length=200, blank=True, help_text="Lower-cased name, for name-only people")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "email", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "email"], condition=~Q(email=""), name="one_person_per_email"),
            models.UniqueConstraint(
                fields=["user", "name_key"], condition=Q(email=""), name="one_nameonly_person_per_name"
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def label(self) -> str:
        return self.name or self.email or "Someone"


class Entity(models.Model):
    """One real thing (an event, a photo, a mail...) with every source record that holds it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entities")
    kind = models.CharField(max_length=24)
    title = models.CharField(max_length=500, blank=True)
    summary = models.TextField(blank=True)
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="The kind's typed fields, merged from the sources")
    place = models.ForeignKey(Place, on_delete=models.SET_NULL, null=True, blank=True, related_name="entities")
    people = models.ManyToManyField(Person, through="EntityPerson", related_name="entities")
    # Title, text and the names in it, lower-cased: searched with full-text search on PostgreSQL
    # (a GIN index on its tsvector, migration 0002) and word by word elsewhere.
    search_text = models.TextField(blank=True)
    # Change sequence: every change takes the user's next number, so a consumer asking for
    # "changes since N" gets each change once, deletions included.
    seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="No source holds it any more")

    class Meta:
        ordering = ["-start_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "kind", "start_at"]),
            models.Index(fields=["user", "start_at", "id"]),
            models.Index(fields=["user", "seq"]),
        ]

    def __str__(self):
        return self.title or f"{self.kind} {self.pk}"


class EntitySource(models.Model):
    """One source record of an entity, with the typed fields it gave."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="sources")
    item = models.OneToOneField("integrations.SyncedItem", on_delete=models.CASCADE, related_name="timeline_source")
    fields = models.JSONField(default=dict, blank=True)
    matched_by = models.CharField(max_length=300, blank=True, help_text="The key that joined it to the entity")

    def __str__(self):
        return f"{self.item_id} -> {self.entity_id}"


class MatchKey(models.Model):
    """What identifies an entity across sources: an iCalendar UID, a Message-ID, a content hash..."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=300)
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="match_keys")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_entity_per_match_key")]

    def __str__(self):
        return self.key


class EntityPerson(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE)
    person = models.ForeignKey(Person, on_delete=models.CASCADE)
    role = models.CharField(max_length=20, help_text="organizer, attendees, from, to, cc, people")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity", "person", "role"], name="one_role_per_person_and_entity")
        ]
        indexes = [models.Index(fields=["person", "entity"])]

    def __str__(self):
        return f"{self.person_id} as {self.role} of {self.entity_id}"


class LinkReason(models.TextChoices):
    TAKEN_DURING = "taken_during", "taken during"
    PLAYED_DURING = "played_during", "played during"
    DURING = "during", "during"
    SAME_PLACE = "same_place", "same place"
    ATTENDEE = "attendee", "with an attendee"


class Link(models.Model):
    """Two entities that belong together, and why. Shown on both sides."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="links_in")
    reason = models.CharField(max_length=20, choices=LinkReason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target", "reason"], name="one_link_per_reason")]
        indexes = [models.Index(fields=["target", "reason"])]

    def __str__(self):
        return f"{self.source_id} {self.get_reason_display()} {self.target_id}"


class PendingItem(models.Model):
    """An outbox: records stored by a sync and not yet taken into the timeline. Written in the
    sync's own batch transaction, so nothing is missed when a worker dies; drained by a task."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item_id = models.BigIntegerField()
    removed = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "id"])]

    def __str__(self):
        return f"item {self.item_id} of user {self.user_id}"


class ChangeCounter(models.Model):
    """The user's last change sequence number (Entity.seq), taken under a row lock."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"user {self.user_id} at change {self.seq}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DataExport(models.Model):
    """ "Download all my data": a zip of JSON Lines per kind (with provenance and links), the places,
    the people and the kept archives, built in the worker. The file lives under MEDIA_ROOT, is
    served to its owner only, and goes with the account."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    file = models.CharField(max_length=300, blank=True, help_text="Storage name of the zip")
    size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"export {self.pk} of user {self.user_id} ({self.status})"

    @property
    def percent(self) -> int | None:
        if self.status == ExportStatus.READY:
            return 100
        if not self.progress_total:
            return None
        return min(99, int(100 * self.progress_done / self.progress_total))

    @property
    def is_active(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ChangeWebhook(models.Model):
    """An app that wants to hear about changes: batches of changed records POSTed to its address,
    signed like the workflow webhooks, retried (with growing pauses) until the receiver takes them.
    `delivered_seq` is the receiver's place in the user's change sequence."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="change_webhooks")
    url = models.URLField(max_length=2000)
    secret = SecretTextField(help_text="Signing secret (encrypted); shown once when created")
    kinds = models.JSONField(default=list, blank=True, help_text="Only these kinds; empty: every kind")
    delivered_seq = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False, help_text="Held by a sending worker")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        from urllib.parse import urlsplit

        return f"change webhook {self.pk} to {urlsplit(self.url).hostname}"


class HookEvent(models.TextChoices):
    NEW_RECORD = "new_record", "New record"
    NEW_CARD = "new_card", "New workflow card"


class ZapierHook(models.Model):
    """A Zapier REST Hook: one per turned-on Zap. Zapier subscribes with the Zap's own target URL;
    new records (or workflow cards) are POSTed there until it unsubscribes, or answers 410 Gone.
    `delivered_record` / `delivered_card` are how far this Zap has been sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="zapier_hooks")
    target_url = models.URLField(max_length=2000)
    event = models.CharField(max_length=20, choices=HookEvent.choices, default=HookEvent.NEW_RECORD)
    kinds = models.JSONField(default=list, blank=True, help_text="Only these kinds; empty: every kind")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Records and cards are "new" by id (each user's ids grow in commit order: ingest is serialized
    # per user), so an updated record is not sent to a Zap twice.
    delivered_record = models.BigIntegerField(default=0)
    delivered_card = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False, help_text="Held by a sending worker")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"Zapier hook {self.pk} ({self.event}) of user {self.user_id}"


class IftttTrigger(models.Model):
    """A trigger of a turned-on IFTTT Applet, as IFTTT last polled it: whom to name in a Realtime
    notification when new items arrive (IFTTT asks services to keep this for troubleshooting)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ifttt_triggers")
    trigger_identity = models.CharField(max_length=200, unique=True)
    slug = models.CharField(max_length=40)
    trigger_fields = models.JSONField(default=dict, blank=True)
    last_polled_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"IFTTT {self.slug} trigger of user {self.user_id}"
