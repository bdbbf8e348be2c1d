from django.contrib import admin

from workflows.models import Card, CardDelivery, Execution, Workflow, WorkflowOutput, WorkflowSource


class SourceInline(admin.TabularInline):
    model = WorkflowSource
    extra = 0
    fields = ("integration", "kind", "title", "config", "tags", "one_card_per_item", "position")
    raw_id_fields = ("integration",)


class OutputInline(admin.TabularInline):
    model = WorkflowOutput
    extra = 0
    fields = ("integration", "bundle", "template_format", "card_filter", "config", "position")
    raw_id_fields = ("integration",)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "is_active", "schedule", "needs_attention", "last_run_at")
    list_filter = ("is_active", "needs_attention")
    search_fields = ("name", "owner__email")
    raw_id_fields = ("owner",)
    inlines = [SourceInline, OutputInline]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ("workflow", "status", "trigger", "started_at", "duration_ms", "cards_made", "cards_sent")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in Execution._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = ("title", "workflow", "source_label", "is_partial", "created_at")
    list_filter = ("is_partial",)
    search_fields = ("title",)
    raw_id_fields = ("workflow", "execution", "source")


@admin.register(CardDelivery)
class CardDeliveryAdmin(admin.ModelAdmin):
    list_display = ("card", "output", "status", "attempts", "not_before", "updated_at")
    list_filter = ("status",)
    search_fields = ("card__title", "key")
    readonly_fields = [f.name for f in CardDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
