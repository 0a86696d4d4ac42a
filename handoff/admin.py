from django.contrib import admin

from cloudsaves.admin import ReadOnlyAdminMixin

from .models import Activity, HandoffSettings, Offer


@admin.register(HandoffSettings)
class HandoffSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "handoff_mode")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The app state is sealed and never decrypted here: staff see that there is one.
    list_display = ("device", "user", "item", "item_version", "state_size", "updated_at")
    fields = ("device", "user", "item", "item_version", "state_size", "updated_at")
    readonly_fields = fields
    search_fields = ("user__email", "device__name")
    list_select_related = ("device", "user", "item")


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "source_device",
        "target_device",
        "status",
        "origin",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "origin")
    fields = (
        "id",
        "user",
        "source_device",
        "target_device",
        "item",
        "item_version",
        "cursor_seq",
        "origin",
        "status",
        "activity_at",
        "created_at",
        "expires_at",
        "responded_at",
    )
    readonly_fields = fields
    search_fields = ("user__email",)
    list_select_related = ("user", "source_device", "target_device")
