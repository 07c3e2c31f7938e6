"""Bad input on any dashboard page or download is a 4xx with a message, never a 5xx."""

from __future__ import annotations

import itertools

from tests.harness import Harness
from tests.web.util import page_csrf, sign_in

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "99999999999",
    "abc",
    "２０２６-11-01",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-13",
    "9999-12",
    "0-0",
    "\x00",
    "'; drop table ticket; --",
    "<script>alert(1)</script>",
    "²",
    "٣",
    "1e9",
    "on",
]
PAGES = {
    "/": ("start", "end"),
    "/tickets": ("status", "category", "building", "rung", "overdue", "urgent"),
    "/complaints": ("status",),
    "/ranking": ("start", "end"),
    "/downloads/ledger.xlsx": ("start", "end"),
    "/downloads/monthly.xlsx": ("month",),
    "/login": ("next",),
}


async def test_no_query_value_makes_a_server_error(web: Harness) -> None:
    await web.say("阳光花园3号楼业主群", "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    assert await sign_in(web.client, "管理员") == 302
    for (path, params), value in itertools.product(PAGES.items(), NASTY):
        for name in params:
            r = await web.client.get(path, params={name: value}, allow_redirects=False)
            assert r.status < 500, (path, name, value, r.status)
    for value in NASTY:
        for path in (f"/tickets/{value}", f"/open311/v2/requests/{value}.json"):
            r = await web.client.get(path.replace("\x00", "%00"), allow_redirects=False)
            assert r.status < 500, (path, r.status)


async def test_no_form_value_makes_a_server_error(web: Harness) -> None:
    assert await sign_in(web.client, "管理员") == 302
    token = await page_csrf(web.client, "/directory")
    forms = {
        "/directory/buildings": ("compound_id", "name"),
        "/directory/rooms": ("room_id", "building_id"),
        "/directory/roles": ("person_id", "name", "role", "scope"),
        "/directory/password": ("person_id", "password"),
        "/complaints/1/ticket": ("category", "urgent"),
        "/complaints/1/dismiss": ("reason",),
        "/directory/roles/abc/revoke": (),
    }
    for (path, fields), value in itertools.product(forms.items(), NASTY):
        data = {"_csrf": token, **{f: value for f in fields}}
        r = await web.client.post(path, data=data, allow_redirects=False)
        assert r.status < 500, (path, value, r.status, await r.text())
