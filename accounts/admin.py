from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import AuditEvent, Connection, Device, User


class DeviceInline(admin.TabularInline):
    model = Device
    fields = ("kind", "platform", "created_at", "last_seen_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "display_name", "is_active", "is_staff", "date_joined", "last_login")
    search_fields = ("email", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("display_name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [DeviceInline]


class RevokedFilter(admin.SimpleListFilter):
    title = _("revoked")
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return (("yes", _("Revoked")), ("no", _("In use")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    # The token hash is deliberately absent: not shown, not searchable, not editable.
    # Device names are sealed like content: staff see kind, platform and id.
    list_display = (
        "__str__",
        "revoked",
        "user",
        "kind",
        "platform",
        "created_at",
        "last_seen_at",
        "revoked_at",
    )
    list_filter = (RevokedFilter, "kind")
    search_fields = ("=id", "user__email", "platform")
    fields = ("id", "user", "kind", "platform", "created_at", "last_seen_at", "revoked_at")
    readonly_fields = ("id", "user", "created_at", "last_seen_at")
    list_select_related = ("user",)
    actions = ["revoke"]

    @admin.display(description=_("Revoked"), boolean=True, ordering="revoked_at")
    def revoked(self, device: Device) -> bool:
        return device.is_revoked

    @admin.action(description="Revoke selected devices (tokens stop working, sockets close)")
    def revoke(self, request, queryset):
        from .services import device_revoke

        for device in queryset.filter(revoked_at__isnull=True):
            device_revoke(user=device.user, device_id=device.id)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("device", "user", "connected_at", "seen_at")
    readonly_fields = ("id", "user", "device", "channel_name", "connected_at", "seen_at")
    exclude = ("session_key",)
    list_select_related = ("device", "user")

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The whole audit trail, read-only: nobody adds, edits or deletes events here."""

    list_display = ("at", "kind", "user", "ip", "device_id", "target_device_id")
    list_filter = ("kind", ("at", admin.DateFieldListFilter))
    search_fields = ("user__email", "ip", "email_hash", "device_id")
    date_hierarchy = "at"
    list_select_related = ("user",)
    readonly_fields = (
        "at",
        "kind",
        "user",
        "email_hash",
        "device_id",
        "target_device_id",
        "ip",
        "user_agent",
        "details",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
