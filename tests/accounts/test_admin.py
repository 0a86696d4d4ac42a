"""Staff pages for devices: revoked devices stand out and can be filtered."""

import pytest

from accounts.services import device_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="pw")
    client.force_login(admin)
    return client


def test_revoked_devices_are_marked_and_filtered(staff, user, make_device):
    kept, _ = make_device(user, name="Kitchen tablet", kind="tablet")
    lost, _ = make_device(user, name="Lost phone")
    device_revoke(user=user, device_id=lost.id)

    listing = staff.get("/admin/accounts/device/").content.decode()
    assert "column-revoked" in listing
    assert listing.count('alt="True"') == 1  # the one revoked device's mark
    assert "?revoked=yes" in listing  # the filter is offered

    # Listed by kind and id: the names are sealed, and staff never see them.
    revoked = staff.get("/admin/accounts/device/?revoked=yes").content.decode()
    assert str(lost) in revoked
    assert str(kept) not in revoked
    in_use = staff.get("/admin/accounts/device/?revoked=no").content.decode()
    assert str(kept) in in_use
    assert str(lost) not in in_use
    for page in (
        revoked,
        in_use,
        staff.get(f"/admin/accounts/device/{lost.id}/change/").content.decode(),
    ):
        assert "Lost phone" not in page and "Kitchen tablet" not in page
