"""Mail and pages name the service, never Django's default "example.com" site."""

import pytest
from django.contrib.sites.models import Site
from django.core.management.sql import emit_post_migrate_signal

pytestmark = pytest.mark.django_db


def test_after_migrate_the_site_is_named_from_settings(settings):
    site = Site.objects.get_current()
    assert (site.name, site.domain) == (
        settings.CLOUDSAVES_SITE_NAME,
        settings.CLOUDSAVES_SITE_DOMAIN,
    )
    assert site.name == "Cloud-Saves"
    assert "example.com" not in site.domain


def test_a_changed_setting_is_applied_by_the_next_migrate(settings):
    settings.CLOUDSAVES_SITE_NAME = "Family Sync"
    settings.CLOUDSAVES_SITE_DOMAIN = "sync.family.test"
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    site = Site.objects.get_current()  # the cached row was dropped too
    assert (site.name, site.domain) == ("Family Sync", "sync.family.test")


def test_password_reset_mail_names_the_service(client, make_user, mailoutbox):
    user = make_user("reader@cloudsaves.test")
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert "Cloud-Saves" in mail.subject
    assert "Cloud-Saves" in mail.body
    assert "example.com" not in mail.subject
    assert "example.com" not in mail.body
