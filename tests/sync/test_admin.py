"""Staff pages for synced content: metadata only, never plaintext; conflicts settled
without rewriting anyone's content."""

import pytest

from sync.models import Conflict, Item, Version

from .conftest import at, new_id, put

pytestmark = pytest.mark.django_db

CANARY = "canary-4f1c9e-never-in-admin"


@pytest.fixture
def staff(client, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="pw")
    client.force_login(admin)
    return client


def overlapping_conflict(phone, laptop, *, text="the cat sat"):
    item_id = new_id()
    phone.push_one(put(item_id, text))
    laptop.push_one(put(item_id, text.replace("cat", "dog"), base=1, modified_at=at(60)))
    result = phone.push_one(put(item_id, text.replace("cat", "bird"), base=1, modified_at=at(5)))
    assert result["status"] == "conflict"
    return item_id, Conflict.objects.get(id=result["conflict_id"])


def test_pages_show_metadata_and_never_content(staff, phone, laptop):
    item_id, conflict = overlapping_conflict(phone, laptop, text=f"the cat sat {CANARY}")
    item = Item.objects.get(item_id=item_id)
    version = Version.objects.filter(item=item).first()
    pages = [
        "/admin/sync/item/",
        f"/admin/sync/item/?q={item_id}",
        f"/admin/sync/item/{item.pk}/change/",
        "/admin/sync/version/",
        f"/admin/sync/version/{version.pk}/change/",
        "/admin/sync/conflict/",
        "/admin/sync/conflict/?status__exact=open",
        f"/admin/sync/conflict/{conflict.pk}/change/",
        "/admin/sync/syncstate/",
    ]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert CANARY not in body, page
        # Names are sealed like content: staff see the item's id instead.
        assert item.name not in body, page
    assert item_id in staff.get(f"/admin/sync/item/{item.pk}/change/").content.decode()


def test_history_cannot_be_edited_or_deleted_here(staff, phone):
    phone.push_one(put(new_id(), "x"))
    item = Item.objects.get()
    assert staff.get("/admin/sync/item/add/").status_code == 403
    assert staff.post(f"/admin/sync/item/{item.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Item.objects.count() == 1


def keep_current_head(staff, conflict) -> str:
    """Run the admin action on one conflict; the page it lands on, as text."""
    response = staff.post(
        "/admin/sync/conflict/",
        {"action": "keep_current_head", "_selected_action": [str(conflict.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_keep_current_head_resolves_without_touching_content(staff, phone, laptop):
    item_id, conflict = overlapping_conflict(phone, laptop)
    item = Item.objects.get(item_id=item_id)
    assert item.has_conflict
    versions_before = item.version
    cursor = phone.pull_all()[1]
    assert "Resolved 1 conflict" in keep_current_head(staff, conflict)
    conflict.refresh_from_db()
    item.refresh_from_db()
    assert conflict.status == Conflict.Status.RESOLVED
    assert not item.has_conflict
    assert item.version == versions_before  # the head the devices show stays the head
    # Devices hear of it: the item moved in the change sequence.
    (change,) = phone.pull(cursor)["changes"]
    assert (change["id"], change["has_conflict"]) == (item_id, False)


def test_a_conflict_whose_item_moved_on_is_left_to_the_user(staff, phone, laptop):
    item_id, conflict = overlapping_conflict(phone, laptop)
    phone.push_one(put(item_id, "written after the conflict", base=3))
    assert "Left 1 conflict(s) open" in keep_current_head(staff, conflict)
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.OPEN
    assert Item.objects.get(item_id=item_id).version == 4


def test_versions_and_conflicts_are_labelled_by_item_id_never_name(staff, phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, f"milk {CANARY}", name="Shopping list"))
    laptop.push_one(put(item_id, f"oat milk {CANARY}", base=1, name="Shopping list"))
    result = phone.push_one(
        put(item_id, f"soy milk {CANARY}", base=1, name="Shopping list", modified_at=at(5))
    )
    assert result["status"] == "conflict"
    item = Item.objects.get(item_id=item_id)
    conflict = Conflict.objects.get(id=result["conflict_id"])
    assert str(Version.objects.get(item=item, number=2)) == f"{item_id} · v2"
    assert str(conflict) == f"Conflict on {item_id}"
    pages = {
        "/admin/sync/version/": f"{item_id} · v2",
        f"/admin/sync/version/?q={item_id}": f"{item_id} · v1",
        f"/admin/sync/item/{item.pk}/change/": f"{item_id} · kept aside",
        "/admin/sync/conflict/": item_id,
        f"/admin/sync/conflict/{conflict.pk}/change/": f"Conflict on {item_id}",
    }
    for page, label in pages.items():
        body = staff.get(page).content.decode()
        assert label in body, page
        assert "Shopping list" not in body, page
        assert f"{item.pk} v" not in body, page  # no database ids as labels
        assert CANARY not in body, page
