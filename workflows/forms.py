"""Forms of the workflow editor. Step config fields are generated from the step's schema with the
same field builder as the integration forms (integrations.forms), and validated by
integrations.schema.clean: one schema language, one validator, everywhere."""

from __future__ import annotations

from django import forms

from integrations import schema as schema_language
from integrations.forms import schema_field, schema_initial
from workflows import schedules
from workflows.models import Bundle, TemplateFormat, Workflow
from workflows.templating import MAX_SOURCE


class WorkflowForm(forms.ModelForm):
    class Meta:
        model = Workflow
        fields = ["name", "description", "schedule", "is_active"]
        labels = {"is_active": "Active", "schedule": "Schedule (cron)"}
        help_texts = {
            "schedule": "Five fields, read in your time zone: minute hour day month weekday. "
            "Empty = only when you press Run now.",
            "is_active": "Inactive workflows never run on schedule.",
        }
        widgets = {
            "schedule": forms.TextInput(
                attrs={"list": "cron-presets", "placeholder": "0 7 * * *", "autocomplete": "off", "spellcheck": "false"}
            ),
            "description": forms.TextInput(attrs={"placeholder": "What it is for (optional)"}),
        }

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        clash = Workflow.objects.filter(owner=self.owner, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("You already have a workflow with that name.")
        return name

    def clean_schedule(self):
        value = " ".join((self.cleaned_data.get("schedule") or "").split())
        problem = schedules.cron_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return value


class StepConfigForm(forms.Form):
    """Fields generated from a step schema; `values` is what schema.clean made of them."""

    def __init__(self, step_schema: list[dict], *, initial_config: dict | None = None, data=None, prefix="cfg"):
        super().__init__(data=data, prefix=prefix)
        self.step_schema = step_schema
        config = initial_config or {}
        for spec in step_schema:
            field = schema_field(spec, editing=False, stored_secret=False)
            field.initial = schema_initial(spec, config.get(spec["name"], spec.get("default")))
            self.fields[spec["name"]] = field
        self.values: dict = {}

    def raw_values(self) -> dict:
        values = {}
        for spec in self.step_schema:
            key, kind = self.add_prefix(spec["name"]), spec["type"]
            if kind == "multichoice":
                values[spec["name"]] = self.data.getlist(key) if hasattr(self.data, "getlist") else []
            elif kind == "boolean":
                values[spec["name"]] = "on" if self.data.get(key) not in (None, "", "off", "false", "0") else "off"
            else:
                values[spec["name"]] = self.data.get(key, "")
        return values

    def clean(self):
        cleaned = super().clean()
        result = schema_language.clean(self.step_schema, self.raw_values())
        for name, message in result.errors.items():
            self.add_error(name, message)
        self.values = result.values
        return cleaned


class SourceStepForm(forms.Form):
    title = forms.CharField(
        label="Card title", max_length=120, required=False, help_text="Empty: named after the integration."
    )
    tags = forms.CharField(
        label="Tags",
        required=False,
        help_text="Comma-separated; outputs can pick cards by tag.",
        widget=forms.TextInput(attrs={"placeholder": "news, morning"}),
    )
    one_card_per_item = forms.BooleanField(
        label="One card per item", required=False, help_text="Instead of one card listing everything found."
    )

    def clean_tags(self):
        return split_tags(self.cleaned_data.get("tags", ""))


class OutputStepForm(forms.Form):
    bundle = forms.ChoiceField(
        label="Send",
        choices=Bundle.choices,
        initial=Bundle.DIGEST,
        help_text=(
            "One message with all the cards: one chat message, mail or webhook request per run, listing every "
            "card. One message per card: one message (or webhook request) for each card."
        ),
    )
    template_format = forms.ChoiceField(
        label="Template language",
        choices=TemplateFormat.choices,
        initial=TemplateFormat.MARKDOWN,
        help_text="Markdown becomes sanitized HTML for rich outputs; HTML templates are autoescaped.",
    )
    filter_tags = forms.CharField(
        label="Only cards tagged",
        required=False,
        help_text="Comma-separated; empty = every card.",
        widget=forms.TextInput(attrs={"placeholder": "news"}),
    )
    filter_sources = forms.MultipleChoiceField(
        label="Only cards from", required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked = all."
    )
    title = forms.CharField(
        label="Title template",
        max_length=300,
        required=False,
        help_text="Subject or heading. Empty: the default.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    template = forms.CharField(
        label="Body template",
        required=False,
        max_length=MAX_SOURCE,
        strip=False,
        help_text="Jinja2, sandboxed. Empty: the default layout.",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code"}),
    )

    def __init__(self, *args, sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["filter_sources"].choices = [
            (str(s.pk), str(s.integration or "Deleted integration")) for s in sources
        ]

    def clean_filter_tags(self):
        return split_tags(self.cleaned_data.get("filter_tags", ""))

    def card_filter(self) -> dict:
        result = {}
        if self.cleaned_data.get("filter_tags"):
            result["tags"] = self.cleaned_data["filter_tags"]
        if self.cleaned_data.get("filter_sources"):
            result["sources"] = [int(pk) for pk in self.cleaned_data["filter_sources"]]
        return result


def split_tags(value: str) -> list[str]:
    seen = []
    for tag in (value or "").replace("\n", ",").split(","):
        tag = " ".join(tag.split()).lower()[:40]
        if tag and tag not in seen:
            seen.append(tag)
    return seen[:20]
