import pytest

from tests.sync.conftest import Device as SyncDevice
from tests.sync.conftest import put  # noqa: F401 - re-exported for the tests


class HandoffDevice(SyncDevice):
    def __init__(self, client, device):
        super().__init__(client)
        self.device = device

    @property
    def id(self):
        return str(self.device.id)

    def publish(self, item_id, version, state=None, expect=200):
        response = self.client.put(
            "/api/v1/handoff/activity",
            {"item_id": str(item_id), "item_version": version, "state": state or {}},
            format="json",
        )
        assert response.status_code == expect, response.content
        return response.json() if response.content else None

    def active(self):
        return self.client.post("/api/v1/handoff/active")

    def offers(self):
        return self.client.get("/api/v1/handoff/offers/").json()["results"]

    def accept(self, offer_id):
        return self.client.post(f"/api/v1/handoff/offers/{offer_id}/accept")

    def decline(self, offer_id):
        return self.client.post(f"/api/v1/handoff/offers/{offer_id}/decline")


@pytest.fixture
def make_handoff_device(make_device, client_for):
    def _make(user, name, kind="phone"):
        device, token = make_device(user, name=name, kind=kind)
        return HandoffDevice(client_for(token), device)

    return _make


@pytest.fixture
def tablet(user, make_handoff_device):
    return make_handoff_device(user, "Tablet", "tablet")


@pytest.fixture
def phone(user, make_handoff_device):
    return make_handoff_device(user, "Phone", "phone")


@pytest.fixture
def laptop(user, make_handoff_device):
    return make_handoff_device(user, "Laptop", "desktop")
