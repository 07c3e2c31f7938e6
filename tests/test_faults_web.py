"""The web under attack: no session, a forged or tampered one, the wrong viewer, no API key,
and hostile form values — refused or answered 4xx, never a 5xx, storage unchanged."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from bot.web.auth import COOKIE
from tests.commands_support import ROOM3, snapshot
from tests.faults_input import SyncBot, error_log, texts
from tests.harness import Harness, running_bot
from tests.test_faults_input import FUZZ
from tests.web.conftest import OTHER_ROOM, two_area_settings
from tests.web.util import page_csrf, sign_in

KEY = "demo-12345-hotline-key"
SALT = "redsteward-session"
PROTECTED_GETS = [
    "/tickets",
    "/tickets/1001",
    "/complaints",
    "/ranking",
    "/downloads",
    "/downloads/ledger.xlsx",
    "/downloads/monthly.xlsx",
    "/directory",
]
FORMS = {
    "/directory/buildings": {"compound_id": "1", "name": "9号楼"},
    "/directory/rooms": {"room_id": "room-yg-1", "building_id": "none"},
    "/directory/roles": {"person_id": "wxid_admin", "name": "", "role": "admin", "scope": ""},
    "/directory/roles/1/revoke": {},
    "/directory/password": {"person_id": "wxid_admin", "password": "hacked-1234"},
    "/complaints/1/ticket": {"category": "repair"},
    "/complaints/1/dismiss": {"reason": "x"},
    "/directory/erase": {"person_id": "sim_张阿姨"},
}


@pytest.fixture
async def web(sqlite_url: str) -> AsyncIterator[Harness]:
    """The bot with two communities (tests/web/conftest.py's), on SQLite."""
    async with running_bot(sqlite_url, two_area_settings()) as h:
        yield h


def forged_cookies(genuine: str) -> dict[str, str]:
    """Cookies that must not sign anyone in."""
    payload, _, rest = genuine.partition(".")
    padded = payload + "=" * (-len(payload) % 4)
    data = base64.urlsafe_b64decode(padded).replace(b"wxid_zhaoshuji", b"wxid_admin")
    tampered = base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "." + rest
    return {
        "garbage": "x" * 40,
        "empty-json": base64.urlsafe_b64encode(b"{}").decode(),
        "other-key": URLSafeTimedSerializer("not-the-key", salt=SALT).dumps(
            {"u": "wxid_admin", "c": "t"}
        ),
        "no-salt": URLSafeTimedSerializer("not-the-key").dumps({"u": "wxid_admin", "c": "t"}),
        "tampered": tampered,
        "truncated": genuine[: len(genuine) // 2],
    }


async def test_no_session_or_a_forged_one_is_refused_everywhere(web: Harness) -> None:
    c = web.client
    await web.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    assert await sign_in(c, "赵书记") == 302
    genuine = c.session.cookie_jar.filter_cookies(c.make_url("/"))[COOKIE].value
    c.session.cookie_jar.clear()
    cases = {"none": None, **forged_cookies(genuine)}
    before = await web.db.run(snapshot)
    with error_log() as errors:
        for name, cookie in cases.items():
            c.session.cookie_jar.clear()
            cookies = {COOKIE: cookie} if cookie else {}
            for path in PROTECTED_GETS:
                r = await c.get(path, cookies=cookies, allow_redirects=False)
                assert r.status == 302 and r.headers["Location"].startswith("/login"), (
                    name,
                    path,
                    r.status,
                )
            for path, form in FORMS.items():
                r = await c.post(path, data={"_csrf": "t", **form}, cookies=cookies)
                assert r.status == 403, (name, path, r.status)
    assert await web.db.run(snapshot) == before
    assert errors == []


async def test_each_viewer_gets_only_what_their_role_and_area_allow(web: Harness) -> None:
    c = web.client
    await web.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")  # 1001, 华福社区
    await web.say(OTHER_ROOM, "小周", "1号楼电梯坏了，停在三楼")  # 1002, 青年社区
    # viewer -> (may see 1001, may see 1002, may edit the directory)
    viewers = {
        "赵书记": (True, False, False),
        "郑书记": (False, True, False),
        "钱主任": (True, True, False),
        "管理员": (True, True, True),
    }
    for name, (sees_1001, sees_1002, edits) in viewers.items():
        c.session.cookie_jar.clear()
        assert await sign_in(c, name) == 302, name
        for number, sees in ((1001, sees_1001), (1002, sees_1002)):
            r = await c.get(f"/tickets/{number}", allow_redirects=False)
            assert (r.status == 200) == sees, (name, number, r.status)
            assert r.status < 500
            board = await (await c.get("/tickets")).text()
            assert (f"#{number}" in board or f">{number}<" in board) == sees, (name, number)
        token = await page_csrf(c, "/directory")
        before = await web.db.run(snapshot)
        r = await c.post(
            "/directory/rooms",
            data={"_csrf": token, "room_id": "room-yg-1", "building_id": "none"},
            allow_redirects=False,
        )
        assert (r.status in (302, 303)) == edits, (name, r.status)
        if not edits:
            assert r.status == 403 and await web.db.run(snapshot) == before


async def test_open311_post_refuses_without_its_key(web: Harness) -> None:
    c = web.client
    body = {"service_code": "repair", "description": "电梯坏了", "address_string": "阳光花园3号楼"}
    before = await web.db.run(snapshot)
    for extra in ({}, {"api_key": ""}, {"api_key": "wrong"}, {"api_key": KEY + " "}):
        for fmt in ("json", "xml"):
            r = await c.post(f"/open311/v2/requests.{fmt}", data={**body, **extra})
            assert r.status == 403, (extra, fmt)
    # a key in a header or the query string is not the form's api_key either
    r = await c.post(f"/open311/v2/requests.json?api_key={KEY}x", data=body)
    assert r.status == 403
    assert await web.db.run(snapshot) == before


def test_hostile_values_in_dashboard_forms_and_open311(tmp_path: Path) -> None:
    bot = SyncBot(f"sqlite:///{tmp_path / 'web.db'}", two_area_settings())
    try:
        bot.run(lambda h: h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了"))
        bot.run(lambda h: sign_in(h.client, "管理员"))
        token = bot.run(lambda h: page_csrf(h.client, "/directory"))
        with error_log() as errors:

            @FUZZ
            @given(
                path=st.sampled_from([*FORMS, "/open311/v2/requests.json", "/login"]),
                values=st.lists(texts, min_size=1, max_size=4),
            )
            def check(path: str, values: list[str]) -> None:
                values = [v.replace("\x00", "") for v in values]
                if path.startswith("/open311"):
                    names = ["service_code", "description", "address_string", "api_key"]
                    form = dict(zip(names, values, strict=False))
                    form.setdefault("api_key", KEY)
                elif path == "/login":
                    form = {"_csrf": token, "login": values[0], "password": values[-1]}
                else:
                    form = {"_csrf": token, **{k: values[0] for k in FORMS[path]}}
                    form.update(dict(zip(list(FORMS[path]), values[1:], strict=False)))

                async def step(h: Harness) -> None:
                    before = await h.db.run(snapshot)
                    r = await h.client.post(path, data=form, allow_redirects=False)
                    body = await r.read()
                    assert r.status < 500, (path, form, body[:300])
                    if r.status >= 400:
                        assert body.strip(), (path, r.status)
                        assert await h.db.run(snapshot) == before, (path, form)

                bot.run(step)
                if path == "/login":  # a failed sign-in must not end the admin's session
                    bot.run(lambda h: sign_in(h.client, "管理员"))
                assert errors == [], errors[-1]

            check()
    finally:
        bot.close()


async def test_an_admin_erases_a_person_from_the_dashboard(web: Harness) -> None:
    c = web.client
    await web.say(ROOM3, "张阿姨", "3号楼2单元502门口楼道灯坏了，电话13812345678")
    assert await sign_in(c, "赵书记") == 302
    token = await page_csrf(c, "/directory")
    before = await web.db.run(snapshot)
    r = await c.post("/directory/erase", data={"_csrf": token, "person_id": "sim_张阿姨"})
    assert r.status == 403 and await web.db.run(snapshot) == before
    c.session.cookie_jar.clear()
    assert await sign_in(c, "管理员") == 302
    token = await page_csrf(c, "/directory")
    r = await c.post("/directory/erase", data={"_csrf": token, "person_id": "wxid_wanghongguan"})
    assert r.status == 400 and "请先撤销其角色" in await r.text()
    r = await c.post("/directory/erase", data={"_csrf": token, "person_id": "sim_张阿姨"})
    assert (
        r.status == 200 and "已删除个人数据：1 条消息已清除，1 张工单保留为匿名" in await r.text()
    )
    ticket = await web.ticket(1001)
    assert "张阿姨" not in str(ticket) and "13812345678" not in str(ticket)


async def test_failed_sign_ins_count_across_processes(db_url: str) -> None:
    """Two processes on one database (one per WeChat account, each with its web page) count
    the same failed tries: a guesser gains nothing by spreading them; the account's right
    password clears its count, and failures past the window are forgotten and deleted."""
    from datetime import UTC, datetime, timedelta

    from sqlmodel import func, select

    from bot.web.auth import SignInThrottle
    from storage import Database
    from storage.models import SignInFailure

    db = Database(db_url)
    db.prepare()
    first, second = SignInThrottle(db), SignInThrottle(db)
    now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    try:
        for i in range(SignInThrottle.PER_LOGIN):
            await (first if i % 2 else second).failed("赵书记", f"10.0.0.{i}", now)
        assert await first.wait("赵书记", "10.0.0.9", now) == SignInThrottle.WINDOW
        assert await second.wait("赵书记", "10.0.0.9", now + timedelta(minutes=5)) == timedelta(
            minutes=10
        )
        assert await second.wait("钱主任", "10.0.0.9", now) is None  # another account
        await first.succeeded("赵书记")
        assert await second.wait("赵书记", "10.0.0.9", now) is None
        # one address trying many accounts
        for i in range(SignInThrottle.PER_ADDRESS):
            await (first if i % 2 else second).failed(f"账号{i}", "10.0.0.66", now)
        assert await first.wait("钱主任", "10.0.0.66", now) == SignInThrottle.WINDOW
        later = now + SignInThrottle.WINDOW
        assert await second.wait("钱主任", "10.0.0.66", later) is None
        await first.failed("钱主任", "10.0.0.7", later)  # the old failures are deleted
        count = await db.run(
            lambda s: s.exec(select(func.count()).select_from(SignInFailure)).one()
        )
        assert count == 2  # this try's: by account and by address
    finally:
        db.close()
