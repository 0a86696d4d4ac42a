"""The browser as a sync client: live edits between two browsers of one user, offline
editing through the service worker, and handoff from one browser to another."""

from __future__ import annotations

import re
import time
import uuid

from .helpers import open_app, push, put_text, wait_for_app

PHONE = {"width": 375, "height": 812}


def _text(page) -> str:
    return page.locator("[data-text]").input_value()


def _wait_text(page, expected: str, timeout: float = 10_000) -> None:
    page.wait_for_function(
        "expected => document.querySelector('[data-text]').value === expected",
        arg=expected,
        timeout=timeout,
    )


def _server_item(api, item_id: str) -> dict:
    response = api.get(f"/api/v1/items/{item_id}/")
    assert response.status_code == 200, response.text
    return response.json()


def _create_note(api, name: str, content: str) -> str:
    item_id = str(uuid.uuid4())
    [result] = push(api, put_text(item_id, name, content))
    assert result["status"] == "applied", result
    return item_id


def test_an_edit_on_one_browser_shows_live_on_the_other(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user)
    item_id = _create_note(phone, "Shopping list", "eggs\nmilk\n")
    a = open_app(signed_in_context(user, name="A"), f"/items/{item_id}/")
    b = open_app(signed_in_context(user, name="B"), f"/items/{item_id}/")
    _wait_text(a, "eggs\nmilk\n")
    _wait_text(b, "eggs\nmilk\n")

    # B keeps its caret on "milk" while A types above it.
    b.locator("[data-text]").focus()
    b.evaluate("() => document.querySelector('[data-text]').setSelectionRange(5, 5)")
    a.locator("[data-text]").focus()
    a.keyboard.press("Control+Home")
    a.keyboard.type("bread\n")
    _wait_text(b, "bread\neggs\nmilk\n")
    assert b.evaluate("() => document.querySelector('[data-text]').selectionStart") == 11
    assert b.url.endswith(f"/items/{item_id}/")  # no reload, no navigation

    a.locator("[data-sync-status][data-state='synced']").wait_for()
    assert a.locator("[data-save-state]").inner_text() == "Saved"
    assert _server_item(phone, item_id)["content"] == "bread\neggs\nmilk\n"

    # An app's change arrives too, and the items list updates without a reload.
    items = open_app(a.context, "/items/")
    head = _server_item(phone, item_id)["version"]
    phone.patch(
        f"/api/v1/items/{item_id}/", json={"name": "Groceries", "base_version": head}
    ).raise_for_status()
    _wait_text(b, "bread\neggs\nmilk\n")
    items.get_by_role("link", name="Groceries").wait_for()
    b.wait_for_function("() => document.querySelector('[data-name]').value === 'Groceries'")

    shoot_all(b, "editor")
    check_a11y(b, "editor")
    browser_log.assert_no_errors()


def test_offline_the_shell_loads_and_an_edit_reaches_the_server_after_reconnect(
    user, signed_in_context, api_device, shoot_all, browser_log
):
    phone = api_device(user)
    item_id = _create_note(phone, "Travel notes", "Day 1\n")
    context = signed_in_context(user, name="laptop")
    page = open_app(context, f"/items/{item_id}/")
    _wait_text(page, "Day 1\n")
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    context.set_offline(True)
    page.reload()
    wait_for_app(page)  # the shell, its scripts and the note all came from this browser
    _wait_text(page, "Day 1\n")
    page.locator("[data-sync-status][data-state='offline']").wait_for()

    page.locator("[data-text]").focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("Took the night train.\n")
    page.locator("[data-sync-status]", has_text="Offline · 1 change waiting").wait_for()
    shoot_all(page, "offline-editor")

    # The edit survives a reload while still offline, and the list opens offline too.
    page.reload()
    wait_for_app(page)
    _wait_text(page, "Day 1\nTook the night train.\n")
    listing = open_app(context, "/items/")
    listing.get_by_role("link", name="Travel notes").wait_for()
    listing.close()
    assert _server_item(phone, item_id)["content"] == "Day 1\n"

    context.set_offline(False)
    page.locator("[data-sync-status][data-state='synced']").wait_for(timeout=20_000)
    deadline = time.monotonic() + 10
    while _server_item(phone, item_id)["content"] != "Day 1\nTook the night train.\n":
        assert time.monotonic() < deadline, "the offline edit never reached the server"
        time.sleep(0.2)
    browser_log.assert_no_errors(allow=("ERR_INTERNET_DISCONNECTED", "WebSocket"))


def test_handoff_banner_opens_the_item_at_the_caret_set_on_the_other_browser(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user)
    text = "".join(f"Line {n}: the quick brown fox\n" for n in range(1, 80))
    item_id = _create_note(phone, "Long essay", text)
    a = open_app(signed_in_context(user, name="A"), f"/items/{item_id}/")
    _wait_text(a, text)
    caret = text.index("Line 42")
    a.locator("[data-text]").focus()
    a.evaluate(
        "caret => { const t = document.querySelector('[data-text]');"
        " t.setSelectionRange(caret, caret); t.dispatchEvent(new KeyboardEvent('keyup')); }",
        caret,
    )
    # The activity is published (debounced) with A's caret.
    deadline = time.monotonic() + 10
    while True:
        devices = phone.get("/api/v1/devices/").json()["results"]
        if any((d.get("activity") or {}).get("item_id") == item_id for d in devices):
            break
        assert time.monotonic() < deadline, "A never published its activity"
        time.sleep(0.2)

    b_context = signed_in_context(user, name="B", viewport=PHONE)
    b = open_app(b_context, "/items/")
    banner = b.locator("[data-handoff-banner]")
    banner.wait_for(state="visible")
    assert "Continue “Long essay” from" in banner.inner_text()
    shoot_all(b, "handoff-banner")
    check_a11y(b, "handoff-banner")
    with b.expect_navigation():
        b.get_by_role("button", name="Continue here").click()
    wait_for_app(b)
    _wait_text(b, text)
    b.wait_for_function(
        "caret => document.querySelector('[data-text]').selectionStart === caret", arg=caret
    )
    assert b.evaluate("() => document.activeElement.matches('[data-text]')")

    # A hears that the item continued on B.
    a.locator(".toast", has_text="Continued on").wait_for()
    browser_log.assert_no_errors()


def _type_offline_edit(page, find: str, replace: str) -> None:
    """Select `find` in the editor and type `replace` over it, as a person would."""
    start = _text(page).index(find)
    page.locator("[data-text]").focus()
    page.evaluate(
        "([s, e]) => document.querySelector('[data-text]').setSelectionRange(s, e)",
        [start, start + len(find)],
    )
    expected = _text(page)  # what the page shows before typing
    expected = expected[:start] + replace + expected[start + len(find) :]
    page.keyboard.type(replace)
    # Everything typed is saved on this device (one change waiting) before going online.
    page.locator("[data-save-state]", has_text="Saved on this device").wait_for()
    assert _text(page) == expected
    page.wait_for_function(
        "() => document.querySelector('[data-sync-status]').dataset.pending === '1'"
    )


def _two_browsers_offline(user, signed_in_context, api_device, name, text):
    phone = api_device(user)
    item_id = _create_note(phone, name, text)
    pages = []
    for label in ("A", "B"):
        page = open_app(signed_in_context(user, name=label), f"/items/{item_id}/")
        _wait_text(page, text)
        page.locator("[data-sync-status][data-state='synced']").wait_for()
        page.context.set_offline(True)
        page.locator("[data-sync-status][data-state='offline']").wait_for()
        pages.append(page)
    return phone, item_id, pages


def _back_online(*pages) -> None:
    """Reconnect the browsers one after the other, each until it has synced."""
    for page in pages:
        page.context.set_offline(False)
        page.locator("[data-sync-status][data-state='synced']").wait_for(timeout=20_000)


def test_overlapping_offline_edits_become_a_conflict_resolved_on_the_review_page(
    user, signed_in_context, api_device, shoot_all, browser_log
):
    text = "Packing list\nsocks\ncharger\npassport\n"
    phone, item_id, (a, b) = _two_browsers_offline(
        user, signed_in_context, api_device, "Packing", text
    )
    _type_offline_edit(a, "charger", "phone charger")
    _type_offline_edit(b, "charger", "laptop charger")

    _back_online(a, b)

    # B's edit came second: it is a conflict, shown on both browsers without a reload.
    for page in (a, b):
        page.locator("[data-conflict-count-value]").filter(has_text="1").wait_for()
        page.locator("[data-conflict-note]").wait_for(state="visible")
    conflicts = phone.get("/api/v1/conflicts/", params={"status": "open"}).json()["results"]
    assert len(conflicts) == 1
    shoot_all(b, "offline-conflict-editor")

    # The editor's "Review conflict" leads straight to this conflict's review page.
    review_url = f"/conflicts/{conflicts[0]['id']}/"
    b.wait_for_function(
        "url => document.querySelector('[data-conflict-link]').getAttribute('href') === url",
        arg=review_url,
    )
    review = b.context.new_page()
    review.goto(b.locator("[data-conflict-link]").get_attribute("href"))
    wait_for_app(review)
    review.get_by_role("button", name="Edit a merged text").click()
    merged = "Packing list\nsocks\nphone charger\nlaptop charger\npassport\n"
    review.locator("textarea").first.fill(merged)
    review.get_by_role("button", name="Save merged text").click()
    review.wait_for_url(f"**/items/{item_id}/")
    wait_for_app(review)

    for page in (a, b, review):
        _wait_text(page, merged, timeout=20_000)
        page.locator("[data-conflict-count]").wait_for(state="hidden")
    assert _server_item(phone, item_id)["content"] == merged
    assert not _server_item(phone, item_id)["has_conflict"]
    browser_log.assert_no_errors(allow=("ERR_INTERNET_DISCONNECTED", "WebSocket"))


def test_offline_edits_to_different_lines_merge_and_the_merge_can_be_undone(
    user, signed_in_context, api_device, shoot_all, browser_log
):
    text = "Week\nMonday: gym\nTuesday: piano\nWednesday: swim\nThursday: chess\n"
    phone, item_id, (a, b) = _two_browsers_offline(
        user, signed_in_context, api_device, "Week", text
    )
    _type_offline_edit(a, "gym", "yoga")
    _type_offline_edit(b, "chess", "cinema")

    _back_online(a, b)

    merged = text.replace("gym", "yoga").replace("chess", "cinema")
    for page in (a, b):
        _wait_text(page, merged, timeout=20_000)
    assert phone.get("/api/v1/conflicts/", params={"status": "open"}).json()["results"] == []
    assert b.locator("[data-conflict-count]").is_hidden()

    # The automatic merge is listed, and undoing it keeps A's version only.
    listing = open_app(b.context, "/conflicts/")
    decision = listing.locator("[data-auto-conflicts] > li")
    decision.first.wait_for()
    shoot_all(listing, "merge-listed")
    decision.first.get_by_role("button", name=re.compile("^Undo")).click()
    listing.get_by_role("dialog").get_by_role(
        "button", name=re.compile(r"\(before the merge\)$")
    ).click()
    a_only = text.replace("gym", "yoga")
    for page in (a, b):
        _wait_text(page, a_only, timeout=20_000)
    assert _server_item(phone, item_id)["content"] == a_only
    browser_log.assert_no_errors(allow=("ERR_INTERNET_DISCONNECTED", "WebSocket"))


def test_send_to_a_browser_opens_the_note_there_at_once_in_auto_mode(
    user, signed_in_context, api_device, browser_log
):
    phone = api_device(user)
    phone.patch("/api/v1/settings", json={"handoff_mode": "auto"}).raise_for_status()
    text = "Recipe\n\n1. Soak the beans.\n2. Simmer for an hour.\n3. Season.\n"
    item_id = _create_note(phone, "Bean stew", text)

    b = open_app(signed_in_context(user, name="B"), "/items/")
    b_id = b.evaluate(
        "() => new Promise(r => { const c = window.cloudsaves.client;"
        " if (c.socketOpen) r(c.device.id);"
        " else c.addEventListener('hello', e => r(e.detail.device.id)); })"
    )
    phone.patch(f"/api/v1/devices/{b_id}/", json={"name": "Kitchen browser"}).raise_for_status()

    a_context = signed_in_context(user, name="A")
    a = open_app(a_context, f"/items/{item_id}/")
    _wait_text(a, text)
    caret = text.index("2. Simmer")
    a.locator("[data-text]").focus()
    a.evaluate(
        "caret => { const t = document.querySelector('[data-text]');"
        " t.setSelectionRange(caret, caret); t.dispatchEvent(new KeyboardEvent('keyup')); }",
        caret,
    )
    a.wait_for_timeout(600)  # the activity is published after a short pause
    a.evaluate("() => window.cloudsaves.handoff.flush()")

    devices = open_app(a_context, "/devices/")
    row = devices.locator(f"li.device[data-device-id='{b_id}']")
    row.get_by_text("Kitchen browser").wait_for()
    row.get_by_role("button", name="Send to this device").click()

    # Auto mode: B opens the note at once, at A's caret, with no banner to answer.
    b.wait_for_url(f"**/items/{item_id}/", timeout=15_000)
    wait_for_app(b)
    _wait_text(b, text)
    b.wait_for_function(
        "caret => document.querySelector('[data-text]').selectionStart === caret", arg=caret
    )
    assert b.locator("[data-handoff-banner]").is_hidden()
    devices.locator(".toast", has_text="Continued on Kitchen browser").wait_for()
    browser_log.assert_no_errors()


def test_a_change_the_server_refuses_whole_never_holds_back_the_others(
    user, signed_in_context, api_device, browser_log
):
    """A push body the server refuses outright (here a proxy's 413 for one item) would be
    refused on every retry: the client splits the batch, saves the rest, and tells the
    user about the one it had to give up."""
    phone = api_device(user)
    good_id = _create_note(phone, "Good note", "ok\n")
    bad_id = _create_note(phone, "Huge note", "big\n")
    context = signed_in_context(user, name="laptop")
    page = open_app(context, "/items/")
    page.locator("[data-sync-status][data-state='synced']").wait_for()

    def refuse_bad(route):
        if bad_id in (route.request.post_data or ""):
            route.fulfill(
                status=413,
                content_type="application/json",
                body='{"error": {"code": "too_large", "message": "Request body too large."}}',
            )
        else:
            route.continue_()

    context.set_offline(True)
    page.evaluate(
        """([good, bad]) => Promise.all([
          window.cloudsaves.client.saveText(good, {content: 'ok, edited\\n'}),
          window.cloudsaves.client.saveText(bad, {content: 'big, edited\\n'}),
        ])""",
        [good_id, bad_id],
    )
    context.route("**/api/v1/sync/push", refuse_bad)
    context.set_offline(False)
    page.locator(".toast", has_text="Huge note could not be saved").wait_for(timeout=15_000)
    page.locator("[data-sync-status][data-state='synced']").wait_for()
    assert _server_item(phone, good_id)["content"] == "ok, edited\n"
    assert _server_item(phone, bad_id)["content"] == "big\n"
    assert page.evaluate("() => window.cloudsaves.client.pending") == 0
    browser_log.assert_no_errors(allow=("ERR_INTERNET_DISCONNECTED", "WebSocket", "413"))


def test_typing_on_a_slow_connection_saves_a_few_times_a_second_without_self_merges(
    user, signed_in_context, api_device, browser_log
):
    """Each save continues the last: a save recorded while the one before is still on
    its way is sent against the version that one made, never as a concurrent edit."""
    phone = api_device(user)
    item_id = _create_note(phone, "Diary", "")
    page = open_app(signed_in_context(user, name="laptop"), f"/items/{item_id}/")
    page.locator("[data-sync-status][data-state='synced']").wait_for()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 300, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    sentence = "Dear diary, today the train was late again."
    page.locator("[data-text]").focus()
    page.keyboard.type(sentence, delay=40)
    page.locator("[data-save-state]", has_text="Saved").wait_for(timeout=20_000)
    page.locator("[data-sync-status][data-state='synced']").wait_for(timeout=20_000)

    head = _server_item(phone, item_id)
    assert head["content"] == sentence
    assert not head["has_conflict"]
    for status in ("open", "auto_resolved"):
        records = phone.get("/api/v1/conflicts/", params={"status": status}).json()["results"]
        assert records == [], f"a save met this device's own earlier save as a {status} conflict"
    versions = phone.get(f"/api/v1/items/{item_id}/versions/").json()["results"]
    # About 1.8 s of typing: a handful of saves, far fewer than the 44 keys.
    assert 2 <= len(versions) <= 15, len(versions)
    browser_log.assert_no_errors()


def test_typing_on_while_a_change_is_merged_is_carried_onto_the_merge(
    user, signed_in_context, api_device, browser_log
):
    """The first change after going online is merged with an app's edit while the user
    keeps typing: the later typing lands on the merged text, with no conflict and
    nothing of either side lost."""
    text = "Plan\nbreakfast: toast\nlunch: soup\ndinner: rice\n"
    phone = api_device(user)
    item_id = _create_note(phone, "Plan", text)
    page = open_app(signed_in_context(user, name="laptop"), f"/items/{item_id}/")
    _wait_text(page, text)
    page.locator("[data-sync-status][data-state='synced']").wait_for()
    page.context.set_offline(True)
    page.locator("[data-sync-status][data-state='offline']").wait_for()
    _type_offline_edit(page, "rice", "pasta")

    head = _server_item(phone, item_id)["version"]
    phone_text = text.replace("toast", "eggs")
    [result] = push(phone, put_text(item_id, "Plan", phone_text, head))
    assert result["status"] == "applied"

    # Back online on a slow link, and typing on at once at the end of the same line.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 250, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.context.set_offline(False)
    page.keyboard.type(" with pesto", delay=60)

    final = text.replace("toast", "eggs").replace("rice", "pasta with pesto")
    deadline = time.monotonic() + 20
    while _server_item(phone, item_id)["content"] != final:
        assert time.monotonic() < deadline, _server_item(phone, item_id)["content"]
        time.sleep(0.2)
    _wait_text(page, final)
    for status in ("open", "auto_resolved"):
        records = phone.get("/api/v1/conflicts/", params={"status": status}).json()["results"]
        # The one automatic merge is the offline edit meeting the app's; nothing more.
        assert len(records) == (1 if status == "auto_resolved" else 0), (status, records)
    browser_log.assert_no_errors(allow=("ERR_INTERNET_DISCONNECTED", "WebSocket"))


def test_signing_out_warns_of_unsent_changes_then_removes_this_browsers_copy(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user)
    item_id = _create_note(phone, "Secrets", "pin: 1234\n")
    context = signed_in_context(user, name="laptop")
    page = open_app(context, f"/items/{item_id}/")
    _wait_text(page, "pin: 1234\n")
    page.locator("[data-sync-status][data-state='synced']").wait_for()

    # A change that cannot reach the server (its pushes fail) is still waiting...
    context.route("**/api/v1/sync/push", lambda route: route.abort())
    page.locator("[data-text]").focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("door: 9876\n")
    page.wait_for_function(
        "() => document.querySelector('[data-sync-status]').dataset.pending === '1'"
    )
    # ... so the sign-out page says so before anything is deleted.
    page.goto("/accounts/logout/")
    warning = page.locator("[data-signout-pending]")
    warning.wait_for(state="visible")
    assert "1 change made on this browser has not reached the server yet" in warning.inner_text()
    check_a11y(page, "sign-out-warning")
    shoot_all(page, "sign-out-warning")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/")
    names = page.evaluate("async () => (await indexedDB.databases()).map((d) => d.name)")
    assert not [n for n in names if n.startswith("cloudsaves-")], names
    assert page.evaluate("async () => (await caches.keys()).length") == 0
    browser_log.assert_no_errors(allow=("sync/push", "ERR_FAILED"))


def test_an_unreachable_server_is_retried_with_backoff_and_the_edit_arrives_once(
    user, signed_in_context, api_device, browser_log
):
    phone = api_device(user)
    item_id = _create_note(phone, "Log", "start\n")
    context = signed_in_context(user, name="laptop")
    page = open_app(context, f"/items/{item_id}/")
    _wait_text(page, "start\n")
    page.locator("[data-sync-status][data-state='synced']").wait_for()

    attempts = []

    def server_down(route):
        attempts.append(route.request.post_data)
        route.abort()

    context.route("**/api/v1/sync/push", server_down)
    page.locator("[data-text]").fill("start\nstep one\n")  # one edit, one change
    status = page.locator("[data-sync-status]")
    status.filter(has_text="Server unreachable, retrying · 1 change waiting").wait_for()
    page.wait_for_timeout(2500)  # a few attempts, further apart each time
    assert len(attempts) >= 2
    assert len(set(attempts)) == 1, "a retry must carry the same change under the same id"

    context.unroute("**/api/v1/sync/push")
    status.and_(page.locator("[data-state='synced']")).wait_for(timeout=40_000)
    assert _server_item(phone, item_id)["content"] == "start\nstep one\n"
    versions = phone.get(f"/api/v1/items/{item_id}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    browser_log.assert_no_errors(allow=("sync/push", "ERR_FAILED"))


def test_a_proxy_error_page_for_a_down_server_still_opens_the_app(
    user, signed_in_context, browser_log
):
    context = signed_in_context(user, name="laptop")
    page = open_app(context, "/items/")
    page.evaluate("() => navigator.serviceWorker.ready")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    # The service worker sees the proxy's 502 for the page and serves its own copy.
    context.route(
        "**/items/",
        lambda route: route.fulfill(status=502, content_type="text/html", body="Bad gateway"),
    )
    page.reload()
    wait_for_app(page)
    assert page.get_by_role("heading", name="Notes & files").is_visible()
    browser_log.assert_no_errors(allow=("502", "Bad gateway", "WebSocket"))
