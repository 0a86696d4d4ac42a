"""Staff pages for synced content. Content, names, content types and content hashes are
sealed and never decrypted here: staff see ids, kinds, sizes, versions, times and conflict
records, and settle conflicts by keeping what the user's devices already show."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cloudsaves.admin import ReadOnlyAdminMixin
from cloudsaves.errors import ApplicationError

from .models import Conflict, Item, SyncState, Version
from .services import conflict_resolve

VERSION_FIELDS = (
    "number",
    "origin",
    "parent",
    "merge_parent",
    "size",
    "deleted",
    "device",
    "modified_at",
    "created_at",
)
ITEM_FIELDS = (
    "user",
    "item_id",
    "kind",
    "version",
    "size",
    "deleted",
    "has_conflict",
    "device",
    "modified_at",
    "updated_at",
    "seq",
)


class Immutable(ReadOnlyAdminMixin):
    """Nor deleted here: deleting an item is a change every device must hear of (use
    the API), and versions, conflicts and sync state are history."""

    def has_delete_permission(self, request, obj=None):
        return False


class VersionInline(Immutable, admin.TabularInline):
    model = Version
    fields = VERSION_FIELDS
    readonly_fields = VERSION_FIELDS
    ordering = ("-created_at",)
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        # Each row shows its label (the item id) and its device: one query for all.
        return super().get_queryset(request).select_related("item", "device")


class ConflictInline(Immutable, admin.TabularInline):
    model = Conflict
    fk_name = "item"
    fields = ("status", "reason", "resolution", "created_at", "resolved_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item")  # each row's label


@admin.register(Item)
class ItemAdmin(Immutable, admin.ModelAdmin):
    list_display = (
        "__str__",
        "user",
        "kind",
        "version",
        "size",
        "deleted",
        "has_conflict",
        "updated_at",
    )
    list_filter = ("kind", "deleted", "has_conflict")
    search_fields = ("user__email", "=item_id")
    fields = ITEM_FIELDS
    readonly_fields = ITEM_FIELDS
    list_select_related = ("user",)
    inlines = [ConflictInline, VersionInline]


@admin.register(Version)
class VersionAdmin(Immutable, admin.ModelAdmin):
    list_display = ("__str__", "origin", "size", "device", "created_at")
    list_filter = ("origin", "deleted")
    search_fields = ("item__user__email", "=item__item_id")
    fields = ("item", *VERSION_FIELDS)
    readonly_fields = fields
    list_select_related = ("item", "device")


@admin.register(Conflict)
class ConflictAdmin(Immutable, admin.ModelAdmin):
    list_display = ("item", "user", "status", "reason", "resolution", "created_at", "resolved_at")
    list_filter = ("status", "reason")
    search_fields = ("user__email", "=item__item_id")
    fields = (
        "id",
        "user",
        "item",
        "status",
        "reason",
        "base",
        "server",
        "incoming",
        "result",
        "resolution",
        "created_at",
        "resolved_at",
    )
    readonly_fields = fields
    list_select_related = ("user", "item")
    actions = ["keep_current_head"]

    @admin.action(description="Resolve, keeping what the item shows now (no content changes)")
    def keep_current_head(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> None:
        """Settle conflicts the way their automatic decision left them. A conflict whose
        item has moved on since (its head is no longer the decision's result) is left
        for the user: resolving it here would rewrite their content."""
        resolved = skipped = 0
        for conflict in queryset.exclude(status=Conflict.Status.RESOLVED).select_related(
            "item", "user"
        ):
            if conflict.result_id is None or conflict.result_id != conflict.item.head_id:
                skipped += 1
                continue
            choice = (
                Conflict.Resolution.INCOMING
                if conflict.result_id == conflict.incoming_id
                else Conflict.Resolution.SERVER
            )
            try:
                conflict_resolve(
                    user=conflict.user,
                    device=None,
                    conflict_id=conflict.id,
                    choice=choice,
                    base_version=conflict.item.version,
                )
            except ApplicationError:
                skipped += 1  # changed while we looked: the user decides
                continue
            resolved += 1
        if resolved:
            self.message_user(request, f"Resolved {resolved} conflict(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Left {skipped} conflict(s) open: their item changed since, so keeping "
                "the head would not match the decision on record. The user resolves those.",
                messages.WARNING,
            )


@admin.register(SyncState)
class SyncStateAdmin(Immutable, admin.ModelAdmin):
    list_display = ("user", "last_seq", "purged_seq")
    search_fields = ("user__email",)
    fields = ("user", "last_seq", "purged_seq")
    readonly_fields = fields
    list_select_related = ("user",)
