"""The audit trail: what is recorded (with user, device, address and time), what never is
(content, passwords, tokens, typed emails), that it is append-only, and that users see
their own on the Security activity page and staff all of it, read-only, in the admin."""

import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError

from accounts.audit import email_hash
from accounts.models import AuditEvent
from tests.accounts.test_tokens import TOKEN_URL
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
Kind = AuditEvent.Kind
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)


def kinds(user):
    return [e.kind for e in AuditEvent.objects.filter(user=user).order_by("id")]


def sign_in_app(api, email, password, ip="203.0.113.5"):
    body = {"email": email, "password": password, "device": {"name": "Deck", "kind": "other"}}
    return api.post(
        TOKEN_URL, body, format="json", REMOTE_ADDR=ip, HTTP_USER_AGENT="CloudSavesApp/1.0"
    )


def test_sign_ins_and_failures_are_recorded_without_secrets(client, api, user):
    client.post(
        "/accounts/login/",
        {"login": user.email, "password": "hunter2-wrong"},
        REMOTE_ADDR="198.51.100.7",
    )
    client.post(
        "/accounts/login/",
        {"login": user.email, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT=UA,
    )
    issued = sign_in_app(api, user.email, PASSWORD)
    token = issued.json()["token"]
    sign_in_app(api, "nobody-here@example.com", "guess")

    assert kinds(user) == [Kind.SIGN_IN_FAILED, Kind.SIGN_IN, Kind.TOKEN_ISSUED]
    failed, signed_in, app = AuditEvent.objects.filter(user=user).order_by("id")
    assert (failed.ip, failed.email_hash) == ("198.51.100.7", email_hash(user.email))
    assert (signed_in.ip, signed_in.user_agent) == ("198.51.100.7", UA)
    assert str(app.device_id) == issued.json()["device"]["id"]
    assert (app.ip, app.user_agent) == ("203.0.113.5", "CloudSavesApp/1.0")
    # A failure against an email with no account is kept unlinked, by hash only.
    stranger = AuditEvent.objects.get(user=None, kind=Kind.SIGN_IN_FAILED)
    assert stranger.email_hash == email_hash("nobody-here@example.com")

    every_value = " ".join(str(v) for row in AuditEvent.objects.values() for v in row.values())
    for secret in ("hunter2-wrong", PASSWORD, token, "guess", "nobody-here@example.com"):
        assert secret not in every_value


def test_device_rename_revoke_password_and_email_changes_are_recorded(
    client, user, make_device, client_for
):
    device, token = make_device(user, name="Old phone")
    app = client_for(token)
    other, _ = make_device(user, name="Tablet")
    assert (
        app.patch(
            f"/api/v1/devices/{other.id}/", {"name": "Kitchen tablet"}, format="json"
        ).status_code
        == 200
    )
    assert app.delete(f"/api/v1/devices/{other.id}/").status_code in (200, 204)

    client.force_login(user)
    changed = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a brand new passphrase",
            "password2": "a brand new passphrase",
        },
    )
    assert changed.status_code == 302, changed.content
    added = client.post("/accounts/email/", {"action_add": "", "email": "alice.second@example.com"})
    assert added.status_code == 302, added.content

    renamed, revoked = (
        AuditEvent.objects.get(user=user, kind=Kind.DEVICE_RENAMED),
        AuditEvent.objects.get(user=user, kind=Kind.DEVICE_REVOKED),
    )
    assert (renamed.device_id, renamed.target_device_id) == (device.id, other.id)
    assert (revoked.device_id, revoked.target_device_id) == (device.id, other.id)
    assert AuditEvent.objects.filter(user=user, kind=Kind.PASSWORD_CHANGED).count() == 1
    email = AuditEvent.objects.get(user=user, kind=Kind.EMAIL_CHANGED)
    assert email.details == {"change": "added"}
    assert "a brand new passphrase" not in str(list(AuditEvent.objects.values()))


def test_key_rotation_is_recorded():
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    event = AuditEvent.objects.get(kind=Kind.KEYS_ROTATED)
    assert event.user is None
    assert set(event.details) == {"rewrapped", "already_current"}


def test_the_trail_is_append_only(user):
    from accounts.audit import audit_record

    event = audit_record(Kind.SIGN_IN, user=user)
    event.kind = Kind.SIGNED_OUT
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(id=event.id).update(kind=Kind.SIGNED_OUT)
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(id=event.id).kind == Kind.SIGN_IN


def test_the_database_refuses_edits_on_postgresql(postgres, user):
    from accounts.audit import audit_record

    event = audit_record(Kind.SIGN_IN, user=user, request=None)
    for sql in (
        "UPDATE accounts_auditevent SET kind = 'signed_out' WHERE id = %s",
        "UPDATE accounts_auditevent SET user_id = NULL, ip = '1.2.3.4' WHERE id = %s",
        "DELETE FROM accounts_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.id])
    assert AuditEvent.objects.filter(id=event.id, kind=Kind.SIGN_IN).exists()


def test_deleting_an_account_keeps_its_events_unlinked(user):
    from accounts.audit import audit_record

    event = audit_record(Kind.SIGN_IN, user=user)
    user.delete()
    event = AuditEvent.objects.get(id=event.id)
    assert (event.user_id, event.kind) == (None, Kind.SIGN_IN)


def test_the_security_activity_page_shows_only_ones_own(client, api, user, other_user, make_device):
    sign_in_app(api, user.email, "wrong password")
    sign_in_app(api, user.email, PASSWORD, ip="192.0.2.44")
    sign_in_app(api, other_user.email, PASSWORD, ip="192.0.2.99")
    assert client.get("/accounts/security/").status_code == 302  # signed out: sign in first
    client.force_login(user)
    page = client.get("/accounts/security/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    text = page.content.decode()
    assert "Failed sign-in" in text and "App signed in" in text
    assert "192.0.2.44" in text and "Deck" in text
    assert "192.0.2.99" not in text


def test_staff_read_the_whole_trail_in_the_admin_but_cannot_change_it(client, make_user, user):
    from accounts.audit import audit_record

    event = audit_record(Kind.SIGN_IN, user=user, device=uuid.uuid4())
    staff = make_user("staff@example.com")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    listing = client.get("/admin/accounts/auditevent/")
    assert listing.status_code == 200
    assert user.email in listing.content.decode()
    detail = client.get(f"/admin/accounts/auditevent/{event.id}/change/")
    assert detail.status_code == 200
    assert b'type="submit" value="Save"' not in detail.content
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert client.post(f"/admin/accounts/auditevent/{event.id}/delete/").status_code == 403
