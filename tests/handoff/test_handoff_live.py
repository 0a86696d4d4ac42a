"""Handoff over the socket on a real daphne: `activity` and `active` messages,
`handoff.offer` pushed to the target, `handoff.continued` to the source."""

import uuid

import httpx
import pytest
from channels.db import database_sync_to_async

from accounts.services import device_register
from tests.sync.conftest import put
from tests.wsclient import Socket

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


async def register(user, name):
    return await database_sync_to_async(device_register)(user=user, name=name, kind="phone")


async def test_switch_offer_and_continued_over_sockets(live_server_proc, user):
    _, tablet_token = await register(user, "Tablet")
    _, phone_token = await register(user, "Phone")
    item_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=live_server_proc.url, timeout=10) as http:
        tablet_auth = {"Authorization": f"Bearer {tablet_token}"}
        pushed = await http.post(
            "/api/v1/sync/push", json={"changes": [put(item_id, "notes")]}, headers=tablet_auth
        )
        assert pushed.status_code == 200

        tablet = await Socket.open(live_server_proc.ws_url, token=tablet_token)
        await tablet.expect("hello")
        await tablet.send({"type": "activity", "item_id": item_id, "item_version": 5})
        assert (await tablet.expect("error"))["code"] == "push_pending_first"
        await tablet.send(
            {"type": "activity", "item_id": item_id, "item_version": 1, "state": {"caret": 4}}
        )

        phone = await Socket.open(live_server_proc.ws_url, token=phone_token)
        await phone.expect("hello")
        await phone.send({"type": "active"})
        offered = (await phone.expect("handoff.offer"))["offer"]
        assert offered["item"]["id"] == item_id
        assert offered["state"] == {"caret": 4}
        assert offered["target_device"]["current"] is True

        accepted = await http.post(
            f"/api/v1/handoff/offers/{offered['id']}/accept",
            headers={"Authorization": f"Bearer {phone_token}"},
        )
        assert accepted.status_code == 200
        assert accepted.json()["item"]["content"] == "notes"
        continued = (await tablet.expect("handoff.continued"))["offer"]
        assert continued["id"] == offered["id"]
        assert continued["status"] == "accepted"
        assert continued["source_device"]["current"] is True

        # Send-to-device reaches the chosen device's socket without it asking.
        sent = await http.post(
            "/api/v1/handoff/send",
            json={"device_id": offered["target_device"]["id"]},
            headers=tablet_auth,
        )
        assert sent.status_code == 201
        pushed_offer = (await phone.expect("handoff.offer"))["offer"]
        assert pushed_offer["id"] == sent.json()["id"]
        assert pushed_offer["origin"] == "send"
        await tablet.close()
        await phone.close()
