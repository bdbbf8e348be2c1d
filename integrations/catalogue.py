"""Seeding the catalogue of integration types from fixtures, without trampling admin edits.

Each type has its own fixture file, integrations/fixtures/catalogue/<slug>.json, in Django's
fixture format but holding only the managed fields: load it with `manage.py load_catalogue`
(this module), not `loaddata`, which refuses it (created_at is missing) and could not keep admin
edits anyway. Reloading is a three-way merge per field between the fixture values last applied
(stored on the type), the fixture now and the database:
- a field the fixture did not change keeps whatever the database holds (admin edits survive);
- a field the fixture changed is updated, unless an admin changed it too (then the admin wins
  and the conflict is reported; `--force` resets to the fixture).
Loading the same fixtures twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from integrations import catalogue_cache
from integrations.models import IntegrationType

CATALOGUE_DIR = Path(__file__).resolve().parent / "fixtures" / "catalogue"
MANAGED_FIELDS = [
    f.name for f in IntegrationType._meta.concrete_fields if f.name not in ("id", "seed", "created_at", "updated_at")
]


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # slug -> fields kept from admin

    def summary(self) -> str:
        text = f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
        for slug, names in self.conflicts.items():
            text += f"\n  kept admin edits of {slug}: {', '.join(names)} (use --force to reset)"
        return text


def read_fixture(path: Path) -> dict:
    entries = json.loads(path.read_text())
    if not (
        isinstance(entries, list) and len(entries) == 1 and entries[0].get("model") == "integrations.integrationtype"
    ):
        raise ValueError(f"{path.name}: a catalogue fixture holds exactly one integrations.integrationtype")
    values = entries[0]["fields"]
    unknown = set(values) - set(MANAGED_FIELDS)
    if unknown:
        raise ValueError(f"{path.name}: unknown fields {sorted(unknown)}")
    if values.get("slug") != path.stem:
        raise ValueError(f"{path.name}: the slug must match the file name")
    return values


def fixture_paths(slugs=None, directory: Path = CATALOGUE_DIR) -> list[Path]:
    paths = sorted(directory.glob("*.json"))
    if slugs:
        wanted = set(slugs)
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            raise ValueError(f"No catalogue fixture for: {', '.join(sorted(missing))}")
    return paths


@transaction.atomic
def load(slugs=None, *, force: bool = False, directory: Path = CATALOGUE_DIR) -> LoadReport:
    report = LoadReport()
    for path in fixture_paths(slugs, directory):
        values = read_fixture(path)
        _load_one(values, force=force, report=report)
    catalogue_cache.changed()  # each save bumps it too; this covers any other write
    return report


def _load_one(values: dict, *, force: bool, report: LoadReport):
    slug = values["slug"]
    instance = IntegrationType.objects.filter(slug=slug).first()
    if instance is None:
        instance = IntegrationType(**values, seed=values)
        _validate(instance)
        instance.save()
        report.created.append(slug)
        return
    previous = instance.seed or {}
    changed, kept = [], []
    for name in MANAGED_FIELDS:
        if name not in values:
            # Dropped from the fixture: the model's default applies again (e.g. the interval from
            # SYNC_DEFAULT_INTERVAL_MINUTES), unless staff changed what the fixture had seeded.
            if name in previous and (force or getattr(instance, name) == previous[name]):
                default = IntegrationType._meta.get_field(name).get_default()
                if getattr(instance, name) != default:
                    setattr(instance, name, default)
                    changed.append(name)
            continue
        new, old_seed, current = values[name], previous.get(name), getattr(instance, name)
        if current == new:
            continue
        if force or name not in previous or (new != old_seed and current == old_seed):
            setattr(instance, name, new)
            changed.append(name)
        elif new != old_seed:
            kept.append(name)
    if kept:
        report.conflicts[slug] = kept
    if changed or previous != values:
        instance.seed = values
        _validate(instance)
        instance.save()
    (report.updated if changed else report.unchanged).append(slug)


def _validate(instance: IntegrationType):
    try:
        instance.full_clean(exclude=["seed"], validate_unique=False)
    except ValidationError as exc:
        raise ValueError(f"catalogue fixture {instance.slug} is invalid: {exc.message_dict}") from exc
