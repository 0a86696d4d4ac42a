"""The items list and the binary item view in Chromium: the empty state and a new note,
search and filters over items another device pushed, and a file uploaded on one browser
(with its progress bar) appearing live, thumbnail and all, on another browser of the same
user; screenshots at two sizes in both colour schemes, and axe-core on each page."""

from __future__ import annotations

import base64
import os
import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from sync.models import Item

from .helpers import open_app, push, put_text, wait_for_app
from .helpers import png as encode_png

pytestmark = [pytest.mark.e2e, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UUID_PATH = re.compile(r"/items/([0-9a-f-]{36})/$")
NO_THROTTLE = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
# In page A: every `upload` event of the sync client, and every state of a row's <progress>.
RECORD_UPLOADS = """() => {
  window.__uploads = [];
  window.__bars = [];
  window.cloudsaves.client.addEventListener("upload", (e) => window.__uploads.push(e.detail));
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll("[data-item-list] progress")) {
      window.__bars.push({max: bar.max, value: bar.value, text: bar.nextSibling.textContent});
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def png(width: int, height: int, *, noise: bool = True) -> bytes:
    """An RGB PNG; with `noise` the pixels are random, so it barely compresses
    (400x500 is about 600 KB); without, a grey gradient."""
    if noise:
        return encode_png(width, height, os.urandom(width * 3 * height))
    line = bytes(x * 255 // max(width - 1, 1) for x in range(width) for _ in range(3))
    return encode_png(width, height, line * height)


def rows(page: Page):
    return page.locator("[data-item-list] > li")


def row(page: Page, name: str):
    return rows(page).filter(has=page.get_by_role("link", name=name, exact=True))


def server_items_named(user, name: str, **filters) -> list[Item]:
    """Names are sealed: matched on the opened models, not by the database."""
    return [i for i in Item.objects.filter(user=user, **filters) if i.name == name]


def wait_for_server_item(user, timeout: float = 10, name: str | None = None, **filters) -> Item:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name is None:
            item = Item.objects.filter(user=user, deleted=False, **filters).first()
        else:
            item = next(iter(server_items_named(user, name, deleted=False, **filters)), None)
        if item is not None:
            return item
        time.sleep(0.1)
    raise AssertionError(f"no item {filters} reached the server within {timeout} s")


def test_empty_state_and_new_note(user, signed_in_context, shoot_all, check_a11y, browser_log):
    page = open_app(signed_in_context(user), "/items/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes & files")
    empty = page.locator("[data-empty]")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("Create a note or drop a file here")
    expect(page.get_by_role("search")).to_be_hidden()
    check_a11y(page, "items-empty")
    shoot_all(page, "items-empty")

    page.locator("[data-new-note]").click()
    expect(page).to_have_url(UUID_PATH)
    item_id = UUID_PATH.search(page.url).group(1)
    item = wait_for_server_item(user, item_id=item_id)
    assert (item.kind, item.name, item.size) == ("text", "Untitled note", 0)

    page.goto("/items/")
    wait_for_app(page)
    expect(rows(page)).to_have_count(1)
    expect(row(page, "Untitled note")).to_contain_text("Note")
    browser_log.assert_no_errors()


def test_search_and_filters(
    user, signed_in_context, api_device, shoot_all, check_a11y, browser_log
):
    phone = api_device(user, name="Pixel 9", kind="phone")
    laptop = api_device(user, name="Work laptop", kind="desktop")
    shopping, meeting, clash = (str(uuid.uuid4()) for _ in range(3))
    push(
        phone,
        put_text(shopping, "Shopping list", "milk\neggs\nbread"),
        put_text(meeting, "Meeting notes", "Agenda: the budget review, then lunch."),
        put_text(clash, "Trip plan", "Day 1: Lisbon"),
        {
            "change_id": str(uuid.uuid4()),
            "item_id": str(uuid.uuid4()),
            "op": "put",
            "kind": "binary",
            "name": "gradient.png",
            "content_type": "image/png",
            "content_b64": base64.b64encode(png(64, 48, noise=False)).decode(),
            "base_version": None,
        },
    )
    # The same line changed on two devices from version 1: a conflict.
    push(laptop, put_text(clash, "Trip plan", "Day 1: Porto", base=1))
    push(phone, put_text(clash, "Trip plan", "Day 1: Madrid", base=1))
    assert Item.objects.get(item_id=clash).has_conflict

    page = open_app(signed_in_context(user), "/items/")
    expect(rows(page)).to_have_count(4)
    expect(page.get_by_role("status").filter(has_text="items")).to_have_text("4 items")
    expect(row(page, "gradient.png").locator("img")).to_have_count(1)
    conflict_badge = row(page, "Trip plan").get_by_role("link", name=re.compile("Conflict"))
    expect(conflict_badge).to_have_attribute("href", "/conflicts/")

    search = page.get_by_label("Search notes and files")
    search.fill("budget")  # text content of a note
    expect(rows(page)).to_have_count(1)
    expect(row(page, "Meeting notes")).to_contain_text("budget review")
    expect(page.get_by_text("Showing 1 of 4 items")).to_be_visible()
    search.fill("SHOPPING")  # names, whatever the case
    expect(rows(page)).to_have_count(1)
    expect(row(page, "Shopping list")).to_be_visible()
    search.fill("")
    expect(rows(page)).to_have_count(4)

    page.get_by_text("Files", exact=True).click()
    expect(rows(page)).to_have_count(1)
    expect(row(page, "gradient.png")).to_be_visible()
    page.get_by_text("Notes", exact=True).click()
    expect(rows(page)).to_have_count(3)
    page.get_by_label("Has conflict").check()
    expect(rows(page)).to_have_count(1)
    expect(row(page, "Trip plan")).to_be_visible()
    assert "conflicts=1" in page.url and "kind=text" in page.url

    search.fill("nothing like this")
    no_match = page.locator("[data-no-match]")
    expect(no_match).to_be_visible()
    expect(no_match).to_contain_text("Nothing matches")
    expect(page.locator("[data-empty]")).to_be_hidden()
    no_match.get_by_role("button", name="Clear search and filters").click()
    expect(rows(page)).to_have_count(4)
    expect(search).to_be_focused()

    page.get_by_label("Sort").select_option("name")
    names = page.locator("[data-item-list] .item-name").all_inner_texts()
    assert names == ["gradient.png", "Meeting notes", "Shopping list", "Trip plan"]

    # A live change from another device re-renders the list without losing the search box.
    search.fill("list")
    expect(rows(page)).to_have_count(1)
    push(phone, put_text(str(uuid.uuid4()), "Packing list", "socks"))
    expect(rows(page)).to_have_count(2)
    expect(search).to_be_focused()
    expect(search).to_have_value("list")
    search.fill("")
    page.get_by_label("Sort").select_option("newest")
    expect(rows(page)).to_have_count(5)

    check_a11y(page, "items-filled")
    shoot_all(page, "items-filled")
    browser_log.assert_no_errors()


def test_upload_appears_on_another_browser(
    user, signed_in_context, shot, shoot_all, check_a11y, browser_log
):
    """Scenario (e): a ~600 KB image uploaded on browser A, with a progress bar, reaches the
    server and shows up on browser B of the same user without a reload, with a thumbnail."""
    image = png(400, 500)
    assert 550_000 < len(image) < 700_000

    page_a = open_app(signed_in_context(user, name="A"), "/items/")
    page_b = open_app(signed_in_context(user, name="B"), "/items/")
    expect(page_b.locator("[data-empty]")).to_be_visible()

    # Slow A's uploads down, so the bar is on screen long enough to be seen.
    cdp = page_a.context.new_cdp_session(page_a)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {**NO_THROTTLE, "uploadThroughput": 400_000})
    page_a.evaluate(RECORD_UPLOADS)
    page_a.get_by_label("Upload files").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": image}
    )
    bar = row(page_a, "photo.png").locator("progress")
    expect(bar).to_be_visible()
    expect(row(page_a, "photo.png")).to_contain_text(re.compile(r"of 5\d\d KB|of 6\d\d KB"))
    shot(page_a, "uploading")
    expect(bar).to_have_count(0, timeout=20_000)

    uploads = page_a.evaluate("window.__uploads")
    progress = [u for u in uploads if not u.get("done")]
    assert progress and all(u["total"] == len(image) for u in progress)
    assert any(0 < u["loaded"] < u["total"] for u in progress), uploads
    assert progress[-1]["loaded"] == len(image)
    assert uploads[-1].get("done")
    bars = page_a.evaluate("window.__bars")
    assert bars and all(b["max"] == len(image) for b in bars), bars[:3]
    assert any(0 < b["value"] < b["max"] and " KB of 587 KB" in b["text"] for b in bars), bars
    cdp.send("Network.emulateNetworkConditions", NO_THROTTLE)

    item = wait_for_server_item(user, name="photo.png")
    assert (item.kind, item.content_type, item.size) == ("binary", "image/png", len(image))
    expect(row(page_a, "photo.png").locator("[data-unsynced]")).to_have_count(0)

    # B: live, no reload, with a thumbnail that decoded.
    thumb = row(page_b, "photo.png").locator(".item-thumb img")
    expect(thumb).to_have_count(1, timeout=15_000)
    page_b.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 400", arg=thumb.element_handle()
    )
    expect(page_b.locator("[data-empty]")).to_be_hidden()

    # B opens the file.
    row(page_b, "photo.png").get_by_role("link", name="photo.png").click()
    expect(page_b).to_have_url(re.compile(rf"/items/{item.item_id}/$"))
    view = page_b.locator("[data-binary]")
    expect(view.get_by_role("heading", level=1)).to_have_text("photo.png")
    preview = view.get_by_role("img", name="Preview of photo.png")
    expect(preview).to_be_visible()
    page_b.wait_for_function("(img) => img.naturalWidth === 400", arg=preview.element_handle())
    expect(view).to_contain_text("PNG image")
    expect(view.get_by_role("link", name="Download")).to_have_attribute("download", "photo.png")
    expect(view.get_by_role("link", name="History")).to_have_attribute(
        "href", f"/items/{item.item_id}/history/"
    )
    expect(view.get_by_label("Replace file…")).to_be_attached()
    expect(view).to_contain_text("587 KB")
    check_a11y(page_b, "binary")
    shoot_all(page_b, "binary")

    # A replaces the file; B's open view follows without a reload.
    page_a.goto(f"/items/{item.item_id}/")
    wait_for_app(page_a)
    replacement = png(120, 80, noise=False)
    page_a.locator("[data-binary]").get_by_label("Replace file…").set_input_files(
        {"name": "other.png", "mimeType": "image/png", "buffer": replacement}
    )
    expect(page_a.locator("[data-binary]")).to_contain_text("Synced")
    expect(view).to_contain_text(f"{len(replacement)} B")
    expect(view.get_by_role("heading", level=1)).to_have_text("photo.png")
    page_b.wait_for_function(
        "() => document.querySelector('[data-preview] img')?.naturalWidth === 120"
    )
    item.refresh_from_db()
    assert (item.version, item.size) == (2, len(replacement))

    # Deleting asks first, then goes back to the (now empty) list.
    page_b.once("dialog", lambda dialog: dialog.accept())
    view.get_by_role("button", name="Delete").click()
    expect(page_b).to_have_url(re.compile(r"/items/$"))
    expect(page_b.locator("[data-empty]")).to_be_visible()
    browser_log.assert_no_errors()


def test_drag_and_drop_and_too_large_files(user, signed_in_context, shot, browser_log):
    page = open_app(signed_in_context(user), "/items/")
    files = page.evaluate_handle(
        """() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["dropped on the page"], "dropped.txt", {type: "text/plain"}));
        return dt;
      }"""
    )
    zone = page.locator("[data-drop-zone]")
    zone.dispatch_event("dragenter", {"dataTransfer": files})
    zone.dispatch_event("dragover", {"dataTransfer": files})
    expect(zone).to_have_class(re.compile("is-dragover"))
    expect(page.get_by_text("Drop files to upload them")).to_be_visible()
    shot(page, "dragover")
    zone.dispatch_event("drop", {"dataTransfer": files})
    expect(zone).not_to_have_class(re.compile("is-dragover"))
    expect(row(page, "dropped.txt")).to_be_visible()
    wait_for_server_item(user, name="dropped.txt", size=19)

    page.evaluate(
        "() => { const c = window.cloudsaves.client; c.info = {...c.info, max_item_bytes: 1000}; }"
    )
    page.get_by_label("Upload files").set_input_files(
        [
            {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 5000},
            {"name": "small.txt", "mimeType": "text/plain", "buffer": b"hello"},
        ]
    )
    notice = page.locator("[data-upload-notice]")
    expect(notice).to_contain_text("“big.bin” is 4.9 KB: files can be at most 1000 B")
    expect(rows(page)).to_have_count(2)
    expect(row(page, "small.txt")).to_be_visible()
    wait_for_server_item(user, name="small.txt")
    assert not server_items_named(user, "big.bin")
    browser_log.assert_no_errors()


def test_binary_view_of_a_file_not_fetched_yet(user, signed_in_context, api_device, browser_log):
    """A file over the inline limit comes as a content URL: while it cannot be fetched the
    view says so, and it loads once the client is back online."""
    phone = api_device(user, name="Pixel 9", kind="phone")
    image = png(400, 500)
    item_id = str(uuid.uuid4())
    push(
        phone,
        {
            "change_id": str(uuid.uuid4()),
            "item_id": item_id,
            "op": "put",
            "kind": "binary",
            "name": "scan.png",
            "content_type": "image/png",
            "content_b64": base64.b64encode(image).decode(),
            "base_version": None,
        },
    )
    context = signed_in_context(user)
    context.route("**/content", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    page.goto(f"/items/{item_id}/")
    wait_for_app(page)
    view = page.locator("[data-binary]")
    expect(view.get_by_role("heading", level=1)).to_have_text("scan.png")
    expect(view).to_contain_text(
        "This file is not on this device yet; it will download when you are back online."
    )
    expect(view.get_by_role("link", name="Download")).to_be_hidden()
    expect(view).to_contain_text("Pixel 9")

    context.unroute("**/content")
    page.evaluate("() => window.cloudsaves.client.syncNow()")
    preview = view.get_by_role("img", name="Preview of scan.png")
    expect(preview).to_be_visible()
    page.wait_for_function("(img) => img.naturalWidth === 400", arg=preview.element_handle())
    expect(view.get_by_role("link", name="Download")).to_be_visible()
    browser_log.assert_no_errors(allow=[r"ERR_INTERNET_DISCONNECTED", r"Failed to load resource"])
