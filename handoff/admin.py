from django.contrib import admin

from .models import Activity, HandoffSettings, Offer


@admin.register(HandoffSettings)
class HandoffSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "handoff_mode")
    search_fields = ("user__email",)
    list_select_related = ("user",)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    # The app state is sealed and never decrypted here: staff see that there is one.
    list_display = ("device", "user", "item", "item_version", "state_size", "updated_at")
    fields = ("device", "user", "item", "item_version", "state_size", "updated_at")
    readonly_fields = fields
    search_fields = ("user__email", "device__name")
    list_select_related = ("device", "user", "item")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
