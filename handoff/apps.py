from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = "Handoff"

    def ready(self) -> None:
        # handoff sits above sync and accounts: it plugs into their extension points
        # rather than being imported by them.
        from accounts.selectors import register_device_annotator
        from sync.consumers import register_handler

        from .selectors import device_activities
        from .socket import handle_active, handle_activity

        register_device_annotator(device_activities)
        register_handler("active", handle_active)
        register_handler("activity", handle_activity)
