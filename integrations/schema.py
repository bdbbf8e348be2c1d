"""Blueprint field lists: the small schema language of auth_schema, source_schema, output_schema.

A schema is a list of fields, each a dict:
    {"name": "url", "type": "url", "label": "Feed URL", "required": true, "help": "...",
     "default": ..., "options": [...], "min": 1, "max": 100, "placeholder": "..."}
Forms, the JSON API and the workflow step configs are all generated from and validated by this
module, so a blueprint edited in the admin changes every one of them at once.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass, field

from connectors import net

FIELD_TYPES = {
    "text",
    "textarea",
    "url",
    "secret_url",  # a URL that embeds a token (private iCal links): write-only like a password
    "email",
    "host",
    "integer",
    "boolean",
    "choice",
    "multichoice",
    "list",  # comma- or newline-separated strings
    "password",
    "secret",  # API keys and tokens
    "secret_text",  # several lines holding credentials (e.g. extra HTTP headers): write-only, multi-line
    "date",
    "cron",
}
SECRET_TYPES = {"password", "secret", "secret_url", "secret_text"}
# "<name>__remove": yes drops a stored optional secret (blank alone keeps it: it is never shown).
REMOVE_SUFFIX = "__remove"


def remove_key(name: str) -> str:
    return f"{name}{REMOVE_SUFFIX}"


def _truthy(value) -> bool:
    return value is True or str(value).lower() in ("1", "true", "on", "yes")


FIELD_KEYS = {"name", "type", "label", "required", "help", "default", "options", "min", "max", "placeholder"}
# An output setting that is the same choice as a workflow output step's "Send" (one message with
# all the cards, or one per card): {"digest": value, "each": value}. The step form does not ask it
# again; the step's choice sets it (workflows.steps.output).
FIELD_KEYS |= {"follows_bundle"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
HOST_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
CRON_RE = re.compile(r"^\S+(\s+\S+){4}$")


def definition_errors(schema) -> list[str]:
    """Why a schema (as stored on a blueprint) is not well formed; empty when it is."""
    if not isinstance(schema, list):
        return ["a schema must be a list of fields"]
    errors, seen = [], set()
    for index, spec in enumerate(schema):
        problems = _field_problems(spec, seen)
        errors.extend(f"field {index + 1}: {p}" for p in problems)
    return errors


def _field_problems(spec, seen: set) -> list[str]:
    if not isinstance(spec, dict):
        return ["must be an object"]
    problems = []
    name, kind = spec.get("name"), spec.get("type")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append("name must be lower_snake_case")
    elif name in seen:
        problems.append(f"duplicate name {name!r}")
    seen.add(name)
    if unknown := set(spec) - FIELD_KEYS:
        problems.append(f"unknown keys {sorted(unknown)}")
    if kind not in FIELD_TYPES:
        problems.append(f"type must be one of {sorted(FIELD_TYPES)}")
    if not spec.get("label"):
        problems.append("a label is required")
    if kind in ("choice", "multichoice") and not (isinstance(spec.get("options"), list) and spec["options"]):
        problems.append("choice fields need options")
    if kind in SECRET_TYPES and "default" in spec:
        problems.append("secret fields cannot have a default")
    if "default" in spec and not problems:
        try:
            _clean_one(spec, spec["default"])
        except ValueError as exc:
            problems.append(f"default is invalid ({exc})")
    return problems


@dataclass
class Cleaned:
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)  # field name -> message

    @property
    def ok(self) -> bool:
        return not self.errors


MAX_TEXT = 4096  # characters of one value (or of one entry of a list)
MAX_LIST_ITEMS = 500  # entries of a list without its own "max"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def clean(schema: list[dict], data: dict, *, keep: dict | None = None) -> Cleaned:
    """Validate `data` against `schema`.

    `keep` holds current values: a secret left blank keeps its stored value (write-only fields
    are never re-rendered, so blank means "unchanged"), as does any field absent from `data`;
    `<name>__remove` set to yes drops an optional secret instead.
    """
    keep = keep or {}
    result = Cleaned()
    for spec in schema:
        name, kind = spec["name"], spec["type"]
        raw = data.get(name) if isinstance(data, dict) else None
        blank = raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []
        if blank and kind == "boolean" and name in data:
            raw, blank = False, False
        if blank:
            removing = kind in SECRET_TYPES and not spec.get("required") and _truthy(data.get(remove_key(name)))
            if removing:
                continue
            if name in keep and (kind in SECRET_TYPES or name not in data):
                result.values[name] = keep[name]
            elif "default" in spec:
                result.values[name] = spec["default"]
            elif spec.get("required"):
                result.errors[name] = f"{spec.get('label', name)} is required."
            continue
        try:
            result.values[name] = _clean_one(spec, raw)
        except ValueError as exc:
            result.errors[name] = str(exc)
    return result


def split_secrets(schema: list[dict], values: dict) -> tuple[dict, dict]:
    """(plain config, secrets): secrets go to the encrypted credential, never to config."""
    secret_names = {s["name"] for s in schema if s["type"] in SECRET_TYPES}
    plain = {k: v for k, v in values.items() if k not in secret_names}
    secrets = {k: v for k, v in values.items() if k in secret_names}
    return plain, secrets


def _clean_one(spec: dict, raw):
    kind, label = spec["type"], spec.get("label", spec["name"])
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "on", "yes"):
            return True
        if str(raw).lower() in ("0", "false", "off", "no", ""):
            return False
        raise ValueError(f"{label} must be yes or no.")
    if kind == "integer":
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{label} must be a whole number.") from None
        if "min" in spec and value < spec["min"]:
            raise ValueError(f"{label} must be at least {spec['min']}.")
        if "max" in spec and value > spec["max"]:
            raise ValueError(f"{label} must be at most {spec['max']}.")
        return value
    if kind in ("list", "multichoice"):
        items = raw if isinstance(raw, list) else re.split(r"[,\r\n]", str(raw))  # a lone CR ends an entry too
        items = [str(i).strip() for i in items if str(i).strip()]
        if kind == "multichoice":
            allowed = _option_values(spec)
            bad = [i for i in items if i not in allowed]
            if bad:
                raise ValueError(f"{label}: {', '.join(bad)} is not an option.")
        limit = spec.get("max", MAX_LIST_ITEMS)  # a pasted address book is not 100,000 recipients
        if len(items) > limit:
            raise ValueError(f"{label} takes at most {limit} entries.")
        if any(len(item) > MAX_TEXT for item in items):
            raise ValueError(f"{label}: an entry is too long ({MAX_TEXT} characters at most).")
        if any(CONTROL_CHARACTERS.search(item) for item in items):
            raise ValueError(f"{label}: an entry has a line break or another control character.")
        return items
    if not isinstance(raw, str | int | float):
        raise ValueError(f"{label} must be text.")
    value = str(raw).strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"{label} is too long ({MAX_TEXT} characters at most).")
    if kind == "choice":
        if value not in _option_values(spec):
            raise ValueError(f"{label}: choose one of {', '.join(_option_values(spec))}.")
    elif kind in ("url", "secret_url"):
        try:  # read as the HTTP client reads it: see connectors.net.read_url
            parts = net.read_url(value, schemes=("http", "https", "webcal"))
        except ValueError as problem:
            if "full" in str(problem):
                raise ValueError(f"{label} must be a full http:// or https:// address.") from None
            raise ValueError(f"{label} {problem}") from None
        if parts.scheme == "webcal":
            value = "https" + value[len("webcal") :]
    elif kind == "email":
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError(f"{label} must be an email address.")
    elif kind == "host":
        if not (HOST_RE.match(value) or _is_ip(value)):
            raise ValueError(f"{label} must be a host name such as imap.example.com.")
    elif kind == "date":
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{label} must be a date (YYYY-MM-DD).") from None
    elif kind == "cron" and not CRON_RE.match(value):
        raise ValueError(f"{label} must be a cron expression with five fields, e.g. 0 7 * * *.")
    return value


def option_labels(spec) -> dict[str, str]:
    """{value: label} of a choice field's options; an option given as a plain value is its own label."""
    return {
        str(o["value"]): str(o.get("label", o["value"])) if isinstance(o, dict) else str(o)
        for o in spec.get("options", [])
    }


def _option_values(spec) -> list[str]:
    return [o["value"] if isinstance(o, dict) else str(o) for o in spec.get("options", [])]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True
