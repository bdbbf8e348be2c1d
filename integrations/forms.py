"""Forms generated from a blueprint's schemas (auth_schema + source_schema).

Django fields here only render: validation is integrations.schema.clean, run by the connection
service, so the form, the JSON API and the admin-edited blueprint can never disagree. Secret
fields (password, secret, secret_url) are PasswordInput(render_value=False) and secret_text a
SecretTextarea: write-only, never re-rendered, and blank on edit means "keep the stored one".
"""

from __future__ import annotations

from django import forms

from connectors.errors import AUTH
from integrations import schema
from integrations.connections import INTERVAL_FIELD, MAX_INTERVAL, NAME_FIELD, Problem, default_name, stored_values
from integrations.models import AuthKind, Integration, IntegrationType
from integrations.templatetags.hub import mask_url

TEXTLIKE = {"text", "url", "email", "host", "cron", "date"}


def _options(spec) -> list[tuple[str, str]]:
    return [
        (o["value"], o.get("label", o["value"])) if isinstance(o, dict) else (str(o), str(o))
        for o in spec.get("options", [])
    ]


class SecretTextarea(forms.Textarea):
    """A multi-line secret (extra HTTP headers): like PasswordInput(render_value=False), what was
    typed or stored is never sent back to the browser, except what the user has just typed into a
    form that failed (render_value, see IntegrationForm.keep_typed_secrets)."""

    render_value = False

    def format_value(self, value):
        return super().format_value(value) if self.render_value else None


def _widget(spec: dict):
    kind = spec["type"]
    attrs = {}
    if spec.get("placeholder"):
        attrs["placeholder"] = spec["placeholder"]
    if kind in schema.SECRET_TYPES:
        attrs.update(autocomplete="new-password", spellcheck="false", autocapitalize="off")
        if kind == "secret_text":
            return SecretTextarea(attrs={**attrs, "rows": 3})
        return forms.PasswordInput(attrs=attrs, render_value=False)
    if kind == "url":
        return forms.URLInput(attrs={**attrs, "inputmode": "url", "spellcheck": "false"})
    if kind == "email":
        return forms.EmailInput(attrs={**attrs, "autocomplete": "email"})
    if kind == "host":
        return forms.TextInput(attrs={**attrs, "autocapitalize": "off", "spellcheck": "false", "autocomplete": "off"})
    if kind == "integer":
        for key in ("min", "max"):
            if key in spec:
                attrs[key] = spec[key]
        return forms.NumberInput(attrs={**attrs, "inputmode": "numeric"})
    if kind == "date":
        return forms.DateInput(attrs={**attrs, "type": "date"})
    if kind in ("textarea", "list"):
        return forms.Textarea(attrs={**attrs, "rows": 3 if kind == "list" else 5})
    return forms.TextInput(attrs={**attrs, "autocomplete": "off"} if kind == "cron" else attrs)


def schema_field(spec: dict, *, editing: bool, stored_secret: bool) -> forms.Field:
    kind, label = spec["type"], spec.get("label", spec["name"])
    help_text = spec.get("help", "")
    is_secret = kind in schema.SECRET_TYPES
    if is_secret and editing and stored_secret:
        help_text = (help_text + " " if help_text else "") + "Stored encrypted. Leave blank to keep the current one."
    if kind == "boolean":
        field = forms.BooleanField(label=label, help_text=help_text, required=False)
    elif kind == "choice":
        field = forms.ChoiceField(label=label, help_text=help_text, required=False, choices=_options(spec))
    elif kind == "multichoice":
        field = forms.MultipleChoiceField(
            label=label,
            help_text=help_text,
            required=False,
            choices=_options(spec),
            widget=forms.CheckboxSelectMultiple,
        )
    else:
        field = forms.CharField(label=label, help_text=help_text, required=False, strip=False, widget=_widget(spec))
    # The browser's own "required" hint; the real check is schema.clean.
    field.widget.is_required = False
    if (
        spec.get("required")
        and kind not in ("boolean", "multichoice")
        and not (is_secret and editing and stored_secret)
    ):
        field.widget.attrs["required"] = True
    field.widget.attrs.setdefault("aria-describedby", f"help-{spec['name']} errors-{spec['name']}")
    field.spec = spec
    field.is_secret = is_secret
    field.narrow = kind in ("integer", "choice", "date")  # laid out two to a row
    return field


def schema_initial(spec: dict, value):
    if spec["type"] in schema.SECRET_TYPES:
        return None  # never
    if spec["type"] == "list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return value


class IntegrationForm(forms.Form):
    """Name, connection (auth_schema), settings (source_schema) and the sync interval."""

    def __init__(self, itype: IntegrationType, *, user, integration: Integration | None = None, data=None):
        super().__init__(data=data)
        self.itype, self.user, self.integration = itype, user, integration
        editing = integration is not None
        self.problem = None
        self.masked = {}  # secret_url field -> scheme://host/… of the stored value
        stored_secret_names = set()
        if editing:
            stored = stored_values(integration)
            for spec in itype.settings_schema:
                if spec["type"] in schema.SECRET_TYPES and stored.get(spec["name"]):
                    stored_secret_names.add(spec["name"])
                    if spec["type"] == "secret_url":
                        self.masked[spec["name"]] = mask_url(stored[spec["name"]])
        self.fields[NAME_FIELD] = forms.CharField(
            label="Name",
            max_length=100,
            required=False,
            help_text=f"Your label, to tell several {itype.display_name} connections apart.",
            initial=integration.name if editing else default_name(user, itype),
            widget=forms.TextInput(attrs={"required": True, "autocomplete": "off"}),
        )
        self.fields[NAME_FIELD].widget.attrs["aria-describedby"] = "help-name errors-name"
        config = (integration.config or {}) if editing else {}
        self.auth_names, self.settings_names = [], []
        for spec, names in [(s, self.auth_names) for s in itype.auth_schema] + [
            (s, self.settings_names) for s in itype.source_schema
        ]:
            field = schema_field(spec, editing=editing, stored_secret=spec["name"] in stored_secret_names)
            field.initial = schema_initial(spec, config.get(spec["name"], spec.get("default")))
            self.fields[spec["name"]] = field
            names.append(spec["name"])
            if spec["name"] in stored_secret_names and not spec.get("required"):
                # Blank keeps a stored secret, so removing one needs its own, explicit choice.
                remove = schema.remove_key(spec["name"])
                self.fields[remove] = forms.BooleanField(
                    label=f"Remove the stored {spec.get('label', spec['name']).lower()}", required=False
                )
                names.append(remove)
        if itype.supports_scheduling:
            self.fields[INTERVAL_FIELD] = forms.IntegerField(
                label="Sync every (minutes)",
                required=False,
                min_value=1,
                max_value=MAX_INTERVAL,
                initial=integration.sync_interval_minutes if editing else itype.sync_interval_default,
                help_text="How often the hub checks for changes in the background.",
                widget=forms.NumberInput(attrs={"min": 1, "max": MAX_INTERVAL, "inputmode": "numeric"}),
            )
            self.fields[INTERVAL_FIELD].widget.attrs["aria-describedby"] = (
                f"help-{INTERVAL_FIELD} errors-{INTERVAL_FIELD}"
            )
            self.fields[INTERVAL_FIELD].narrow = True
            self.settings_names.append(INTERVAL_FIELD)

    # -- presentation ------------------------------------------------------------------------------
    @property
    def editing(self) -> bool:
        return self.integration is not None

    @property
    def uses_oauth(self) -> bool:
        return self.itype.auth_kind == AuthKind.OAUTH2

    def sections(self):
        """(key, legend, intro, bound fields) in display order; empty sections are left out."""
        auth_legend = "Replace credentials" if self.editing else "Connection"
        auth_intro = (
            "Change the server or account. Secrets are never shown again: type a new one to replace it, "
            "or leave it blank to keep the stored one. New credentials are tested before they are saved."
            if self.editing
            else ""
        )
        result = [("general", "", "", [self[NAME_FIELD]])]
        if self.auth_names:
            result.append(("auth", auth_legend, auth_intro, [self[n] for n in self.auth_names]))
        if self.settings_names:
            result.append(("settings", "Settings", "", [self[n] for n in self.settings_names]))
        return result

    # -- values for the connection service ---------------------------------------------------------
    def raw_values(self) -> dict:
        """The submitted values in the shape schema.clean expects (lists, booleans as on/off)."""
        data = self.data
        values = {}
        for name in (NAME_FIELD, INTERVAL_FIELD):
            if name in self.fields:
                values[name] = data.get(name, "")
        for spec in self.itype.settings_schema:
            name, kind = spec["name"], spec["type"]
            if kind == "multichoice":
                values[name] = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
            elif kind == "boolean":
                values[name] = "on" if data.get(name) not in (None, "", "off", "false", "0") else "off"
            else:
                values[name] = data.get(name, "")
            if schema.remove_key(name) in self.fields:
                values[schema.remove_key(name)] = "on" if data.get(schema.remove_key(name)) else ""
        return values

    def keep_typed_secrets(self, problem: Problem | None = None):
        """A form shown again after a failed submit keeps the secrets the user has just typed, so
        they fix a typo in the address instead of typing it (and the password) again. Only this
        request's own values (a stored secret is never rendered), in this response's form (never
        in a message or log); a secret the service refused is wrong anyway and is typed again."""
        refused = set(problem.errors) if problem is not None and problem.kind == AUTH else set()
        for name, field in self.fields.items():
            if getattr(field, "is_secret", False) and hasattr(field.widget, "render_value"):
                field.widget.render_value = name not in refused

    def apply(self, problem: Problem):
        """Show a service Problem on the form: each message on its field; the template shows the
        problem itself (message and remediation) in a banner above the form."""
        self.keep_typed_secrets(problem)
        self.is_valid()  # make sure cleaned_data exists, so add_error works
        for name, message in problem.errors.items():
            if name in self.fields:
                self.add_error(name, message)
        self.problem = problem

    def field_errors_for_test(self, problem: Problem | None) -> dict:
        """{field: message} for the out-of-band error slots of the "Test connection" partial."""
        errors = dict.fromkeys(self.fields, "")
        if problem is not None:
            for name, message in problem.errors.items():
                if name in errors:
                    errors[name] = message
        return errors
