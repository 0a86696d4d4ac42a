from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and devices"

    def ready(self) -> None:
        from . import audit, schema, signals  # noqa: F401

        post_migrate.connect(signals.name_the_site, sender=self)
