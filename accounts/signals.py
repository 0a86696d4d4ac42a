"""Sessions ending end their sockets: signing out closes that browser's sockets, and a
password change closes every socket of the user except the browser where it changed.
After every migrate the Site row takes the service's name and domain from settings."""

from allauth.account.signals import password_changed, password_reset, password_set
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.contrib.sites.models import SITE_CACHE
from django.db import DEFAULT_DB_ALIAS, router
from django.dispatch import receiver

from . import realtime
from .middleware import browser_device_id


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs):
    device_id = browser_device_id(request) if request is not None else None
    if device_id:
        realtime.notify_device(
            device_id, {"type": "session.ended", "session_key": request.session.session_key or ""}
        )


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def close_other_sockets_on_password_change(sender, request, user, **kwargs):
    keep = browser_device_id(request) if request is not None else None
    realtime.notify_user(user.id, {"type": "session.ended", "keep_device": keep or ""})


def name_the_site(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """post_migrate (sent for the accounts app, so after django.contrib.sites made its
    default "example.com" row): the SITE_ID row takes CLOUDSAVES_SITE_NAME and
    CLOUDSAVES_SITE_DOMAIN, which allauth's mail and pages show."""
    try:
        site_model = apps.get_model("sites", "Site")
    except LookupError:
        return
    if not router.allow_migrate_model(using, site_model):
        return
    values = {"name": settings.CLOUDSAVES_SITE_NAME, "domain": settings.CLOUDSAVES_SITE_DOMAIN}
    site, created = site_model.objects.using(using).get_or_create(
        pk=settings.SITE_ID, defaults=values
    )
    if not created and (site.name, site.domain) != (values["name"], values["domain"]):
        site_model.objects.using(using).filter(pk=site.pk).update(**values)
    SITE_CACHE.clear()
