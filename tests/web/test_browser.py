"""The dashboard in a real headless Chromium (Debian's), driven by playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from config.schema import ROOT
from tests.harness import Harness, skip_or_fail
from tests.web.conftest import OTHER_ROOM

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under playwright (skipped, or failed in CI, when missing)."""
    path = shutil.which("chromium")
    if path is None:
        skip_or_fail("chromium is not installed (`make test` installs Debian's package)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _seed(h: Harness) -> None:
    await h.say("阳光花园3号楼业主群", "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    await h.say("和平新村5号楼业主群", "小刘", "5号楼门口垃圾没人清理，都臭了")
    await h.say(OTHER_ROOM, "老陈", "1号楼电梯坏了，困了半天")
    await h.advance(30)
    await h.say("阳光花园1号楼业主群", "李大爷", "1号楼电梯又坏了，老人下不了楼")


async def _sign_in(page: Any, base: str, login: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#login", login)
    await page.fill("#password", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#open-count")


async def test_secretary_signs_in_filters_opens_downloads_and_is_refused(
    web: Harness, browser: Any, tmp_path: Path
) -> None:
    await _seed(web)
    base = str(web.client.make_url("/")).rstrip("/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport=LAPTOP, accept_downloads=True, locale="zh-CN")
    page = await context.new_page()

    # a visitor of the demo sees the overview, then signs in from it
    await page.goto(base + "/")
    await page.wait_for_selector("#guest-notice")
    assert await page.inner_text("#open-count") == "4"
    await page.click("#guest-notice >> text=登录工作台")
    await page.wait_for_selector("#login")
    await page.fill("#login", "赵书记")
    await page.fill("#password", "wrong")
    await page.click("button[type=submit]")
    assert "账号或密码不正确" in await page.inner_text("[role=alert]")
    await page.fill("#password", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#me")

    # the overview of 华福社区 only
    assert await page.inner_text("#open-count") == "3"
    assert await page.inner_text("#overdue-count") == "2"
    areas = await page.inner_text("#areas")
    assert "华福社区" in areas and "青年社区" not in areas
    assert await page.locator("svg.chart").count() == 2
    await page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    # the board, then filtered by category
    await page.click("text=工单")
    await page.wait_for_selector("#board")
    assert await page.locator("tr.ticket-row").count() == 3
    await page.screenshot(path=str(SCREENSHOTS / "board.png"), full_page=True)
    await page.select_option("select[name=category]", "sanitation")
    await page.click("#filters button")
    await page.wait_for_url("**category=sanitation**")
    rows = page.locator("tr.ticket-row")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-number") == "1002"
    await page.check("input[name=overdue]")
    await page.click("#filters button")
    await page.wait_for_url("**overdue=1**")
    assert await page.locator("tr.ticket-row").count() == 1
    await page.screenshot(path=str(SCREENSHOTS / "board-filtered.png"), full_page=True)

    # open the ticket: its timeline and the message that made it
    await page.click("text=#1002")
    await page.wait_for_selector("#timeline")
    assert "工单 #1002" in await page.inner_text("#ticket-title")
    assert "报事" in await page.inner_text("#timeline")
    assert "垃圾没人清理" in await page.inner_text("#messages")

    # download the ledger and read it back
    await page.click("text=台账下载")
    async with page.expect_download() as info:
        await page.click("#ledger-download")
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    wb = load_workbook(saved)
    numbers = [row[0] for row in wb["问题台账"].iter_rows(min_row=2, values_only=True)]
    assert numbers == [1001, 1002, 1004]

    # another community's ticket is refused
    response = await page.goto(base + "/tickets/1003")
    assert response is not None and response.status == 403
    assert "不在您的辖区" in await page.inner_text("body")
    await context.close()


async def test_overview_and_board_fit_a_phone(web: Harness, browser: Any) -> None:
    await _seed(web)
    base = str(web.client.make_url("/")).rstrip("/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    page = await context.new_page()
    await _sign_in(page, base, "郑书记")
    assert await page.inner_text("#open-count") == "1"
    # nothing wider than the screen
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(SCREENSHOTS / "overview-phone.png"), full_page=True)
    await page.goto(base + "/tickets")
    assert await page.locator("tr.ticket-row").count() == 1
    await page.screenshot(path=str(SCREENSHOTS / "board-phone.png"), full_page=True)
    await context.close()


async def test_a_ticket_made_in_the_simulator_is_followed_to_its_page(
    web: Harness, browser: Any
) -> None:
    base = str(web.client.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport=LAPTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, base, "赵书记")
    await page.goto(base + "/sim")
    await page.select_option("#room", "阳光花园3号楼业主群")
    await page.fill("#sender", "张阿姨")
    await page.fill("#text", "3号楼2单元楼道灯坏了好几天了")
    await page.click("#f button")
    link = page.locator("#log a[href='/tickets/1001']")
    await link.wait_for()
    async with context.expect_page() as info:
        await link.click()
    ticket = await info.value
    await ticket.wait_for_selector("#timeline")
    assert "工单 #1001" in await ticket.inner_text("#ticket-title")
    assert "楼道灯坏了" in await ticket.inner_text("#messages")
    await context.close()
