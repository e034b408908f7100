"""The dashboard in a real browser: Playwright drives Debian's chromium.

A message sent through the API appears in the inbox without a reload; opened, a held message
is released from the page and its receipt and delivery attempt appear as they happen. With
``DLRMOCK_SCREENSHOTS=DIR`` the test also saves the README's screenshots there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live import HELD_PHONE, send_esms
from targets import Target

from mock_server import MockProvider

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs it with apt-get (Debian's "
                    "'chromium' package)")
    pytest.skip("chromium is not installed here (apt-get install -y chromium); .ci/run "
                "installs it, so CI runs this test")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright cannot download its own browsers here: launch the system's chromium.
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


def test_a_send_appears_live_and_a_held_message_is_released_from_the_page(
        browser: Any, target: Target) -> None:
    shots = os.environ.get("DLRMOCK_SCREENSHOTS")
    with MockProvider(time_scale=0, send={"answer_margin": 0}) as provider:
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        page.set_default_timeout(10_000)
        page.goto(provider.url + "/_dlrmock/ui/")
        page.wait_for_selector("#live.on")  # the event stream is open
        page.evaluate("window.notReloaded = true")

        if shots:
            send_esms(provider.url, "0912345678", target.url, RequestId="order-1001")
            send_esms(provider.url, "0987000111", target.url, Content="Ma OTP cua ban: 552901")
            send_esms(provider.url, "12", target.url)  # rejected: counted, not listed
        held = send_esms(provider.url, HELD_PHONE, target.url, RequestId="order-1002")["SMSID"]
        row = page.wait_for_selector(f'tr[data-id="{held}"]')
        assert "held" in row.inner_text()
        assert page.evaluate("window.notReloaded") is True  # live, not reloaded
        if shots:
            page.wait_for_function("document.querySelectorAll('#inbox tbody tr').length >= 3")
            page.screenshot(path=str(Path(shots) / "dashboard-inbox.png"))

        page.click(f'tr[data-id="{held}"] a.id')
        page.wait_for_selector("#release")
        page.select_option("#release select[name=outcome]", "delivered")
        page.click("#release button")
        attempt = page.wait_for_selector(".entry.attempt.outcome-acknowledged")
        text = attempt.inner_text()
        assert "receipt esms.sms.cskh" in text and f"GET {target.url}?SMSID={held}" in text
        page.wait_for_selector("#message-state:text('final')")
        assert len(target.requests) >= 1 and held in target.requests[-1].path
        if shots:
            page.screenshot(path=str(Path(shots) / "dashboard-message.png"), full_page=True)
        page.close()


def test_a_message_held_before_a_restart_is_released_from_the_page_after_it(
        browser: Any, target: Target, tmp_path: Path) -> None:
    db = str(tmp_path / "dlrmock.sqlite")
    with MockProvider(time_scale=0, db=db, send={"answer_margin": 0}) as provider:
        held = send_esms(provider.url, HELD_PHONE, target.url, RequestId="order-2001")["SMSID"]
    with MockProvider(time_scale=0, db=db, send={"answer_margin": 0}) as provider:
        page = browser.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{provider.url}/_dlrmock/ui/?q=order-2001")
        assert "held" in page.wait_for_selector(f'tr[data-id="{held}"]').inner_text()
        page.click(f'tr[data-id="{held}"] a.id')
        page.wait_for_selector("#live.on")
        page.select_option("#release select[name=outcome]", "delivered")
        page.click("#release button")
        attempt = page.wait_for_selector(".entry.attempt.outcome-acknowledged")
        assert f"GET {target.url}?SMSID={held}" in attempt.inner_text()
        page.wait_for_selector("#message-state:text('final')")
        assert [r.path for r in target.requests if held in r.path]
        page.close()
