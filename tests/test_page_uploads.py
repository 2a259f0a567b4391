"""Files through the page in a real Chromium against a real server (static/upload-tray.js,
static/attachments.js): pasted, dropped and picked, seen by another user, opened full size."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

from PIL import Image
from playwright.async_api import Page, expect
from tornado.httpclient import AsyncHTTPClient

from tests.test_page import messages, open_tab, pytestmark  # noqa: F401 - the skip
from tests.test_uploads import ELF, metadata_left, photo_with_gps

# A file put in the page as a user's paste or drop would: a DataTransfer holding a File.
DISPATCH = """([kind, selector, name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.querySelector(selector);
  if (kind === 'paste') {
    target.focus();
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  } else {
    for (const step of ['dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(step, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }
}"""


async def put_file(page: Page, kind: str, selector: str, name: str, mime: str, data: bytes) -> None:
    await page.evaluate(DISPATCH, [kind, selector, name, mime, base64.b64encode(data).decode()])


async def test_a_pasted_photo_reaches_the_other_user_as_a_thumbnail_without_its_exif(browser, page_url):
    alice = await open_tab(browser, page_url, "alice")
    await alice.set_viewport_size({"width": 1440, "height": 900})
    bob = await open_tab(browser, page_url, "bob")
    await bob.set_viewport_size({"width": 390, "height": 844})
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    requested: list[str] = []
    for page in (alice, bob):
        page.on("request", lambda request: requested.append(request.url))

    # Pasted into the message box: uploaded at once, then sent with no text.
    await put_file(alice, "paste", "#composer", "IMG_0001.jpg", "image/jpeg", photo_with_gps())
    tray = alice.get_by_test_id("upload-tray")
    await expect(tray.get_by_test_id("upload")).to_have_attribute("data-state", "done")
    await alice.get_by_test_id("composer").press("Enter")
    await expect(tray).to_be_hidden()

    thumb = messages(bob).last.get_by_test_id("attachment-image").locator("img")
    await expect(thumb).to_have_attribute("width", "100")  # 300 × 600 shown in 200 px: no layout shift
    await expect(thumb).to_have_attribute("height", "200")
    await expect(thumb).to_have_js_property("complete", True)
    assert await thumb.evaluate("img => img.naturalWidth") == 200  # the 400 px thumbnail, loaded
    await messages(bob).last.get_by_test_id("attachment-image").click()
    viewer = bob.get_by_test_id("viewer")
    await expect(viewer).to_be_visible()
    full = bob.get_by_test_id("viewer-image")
    await expect(full).to_have_js_property("complete", True)
    assert await full.evaluate("img => img.naturalWidth") == 300
    url = await full.get_attribute("src")
    assert await bob.get_by_test_id("viewer-download").get_attribute("href") == url
    await bob.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()

    stored = (await AsyncHTTPClient().fetch(origin + url)).body
    assert Image.open(io.BytesIO(stored)).size == (300, 600) and metadata_left(stored) == []

    # Dropped on the messages, and picked with the 📎 button: a file is a download link; a kind the
    # server refuses says so in the tray (an English page shows the server's own words, which name
    # the detail: static/i18n.js errorText), and can be taken out.
    await put_file(alice, "drop", "#message-scroller", "notes.txt", "text/plain", b"meeting at noon\n")
    await alice.get_by_test_id("attach-input").set_input_files(
        [{"name": "tool.png", "mimeType": "image/png", "buffer": ELF}])
    failed = tray.locator("[data-state=failed]")
    await expect(failed).to_contain_text("this kind of file is not accepted (by its content)")
    await expect(tray.locator("[data-state=done]")).to_have_count(1)
    await failed.get_by_test_id("upload-remove").click()
    await alice.get_by_test_id("composer").fill("the notes")
    await alice.get_by_test_id("composer").press("Enter")
    link = messages(bob).last.get_by_test_id("attachment-file")
    await expect(link).to_contain_text("notes.txt")
    await expect(link).to_have_attribute("download", "notes.txt")
    await expect(messages(bob).last).to_contain_text("the notes")

    assert requested and all(u.startswith(origin) for u in requested), [u for u in requested
                                                                        if not u.startswith(origin)]
    assert not alice.js_errors and not bob.js_errors
