"""The dashboard: sign-in, CSRF, area limits on every page and download, admin edits logged."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook
from sqlmodel import Session, select

from bot.app import build_bot, create_app
from bot.simulator import SimClock
from bot.web.exports import Ledger
from storage import Database
from storage.models import (
    AuditLog,
    Building,
    Message,
    OutboxMessage,
    PossibleComplaint,
    RoleAssignment,
    Room,
    Ticket,
)
from tests.harness import START, Harness
from tests.web.conftest import OTHER_ROOM, two_area_settings
from tests.web.util import csrf_of, page_csrf, sign_in

ROOM3 = "阳光花园3号楼业主群"
ROOM5 = "和平新村5号楼业主群"


async def _three_tickets(h: Harness) -> None:
    await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了，我电话13812345678")
    await h.say(ROOM5, "小刘", "5号楼门口垃圾没人清理，都臭了")
    await h.say(OTHER_ROOM, "老陈", "1号楼电梯坏了，困了半天")


async def test_sign_in_checks_the_password_and_sets_a_safe_cookie(web: Harness) -> None:
    c = web.client
    assert await sign_in(c, "赵书记", "wrong") == 401
    assert await sign_in(c, "王红管", "demo") == 401  # a steward has no dashboard sign-in
    for path in (
        "/tickets",
        "/tickets/1001",
        "/complaints",
        "/ranking",
        "/directory",
        "/downloads",
        "/downloads/ledger.xlsx",
        "/downloads/monthly.xlsx",
    ):
        r = await c.get(path, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("/login"), path
    token = await page_csrf(c, "/login")
    r = await c.post(
        "/login",
        data={"login": "赵书记", "password": "demo", "_csrf": token},
        allow_redirects=False,
    )
    assert r.status == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    r = await c.get("/")
    assert r.status == 200 and "赵书记" in await r.text() and "guest-notice" not in await r.text()
    assert r.headers["X-Frame-Options"] == "DENY"


async def test_demo_visitor_sees_the_whole_overview_before_signing_in(web: Harness) -> None:
    await _three_tickets(web)
    r = await web.client.get("/", allow_redirects=False)
    assert r.status == 200
    html = await r.text()
    assert "guest-notice" in html and 'id="open-count">3<' in html
    assert "华福社区" in html and "青年社区" in html and "<svg" in html
    assert "13812345678" not in html


async def test_forms_without_the_csrf_token_are_refused(web: Harness) -> None:
    c = web.client
    await c.get("/login")
    r = await c.post("/login", data={"login": "赵书记", "password": "demo"})
    assert r.status == 403
    r = await c.post("/login", data={"login": "赵书记", "password": "demo", "_csrf": "forged"})
    assert r.status == 403
    assert await sign_in(c, "赵书记") == 302
    r = await c.post("/logout", data={})
    assert r.status == 403
    assert (await c.get("/", allow_redirects=False)).status == 200  # still signed in


async def test_overview_counts_only_the_viewers_area(web: Harness) -> None:
    await _three_tickets(web)
    await web.advance(30)  # past the 20-minute response deadline
    assert await sign_in(web.client, "赵书记") == 302
    html = await (await web.client.get("/")).text()
    assert 'id="open-count">2<' in html and 'id="overdue-count">2<' in html
    assert "华福社区" in html and "青年社区" not in html
    assert "<svg" in html and "近30天趋势" in html
    r = await web.client.get("/", params={"start": "2026-11-30", "end": "2026-11-01"})
    assert r.status == 400 and "结束日期早于开始日期" in await r.text()
    r = await web.client.get("/", params={"start": "yesterday"})
    assert r.status == 400


async def test_board_filters_and_refuses_a_building_outside_the_area(web: Harness) -> None:
    await _three_tickets(web)
    assert await sign_in(web.client, "赵书记") == 302

    async def numbers(**params: str) -> list[str]:
        r = await web.client.get("/tickets", params=params)
        assert r.status == 200, await r.text()
        html = await r.text()
        return [n for n in ("1001", "1002", "1003") if f'data-number="{n}"' in html]

    assert await numbers() == ["1001", "1002"]
    assert await numbers(category="sanitation") == ["1002"]
    assert await numbers(status="claimed") == []
    assert await numbers(urgent="1") == []
    assert await numbers(overdue="1") == []
    await web.advance(25)
    assert await numbers(overdue="1") == ["1001", "1002"]
    d = web.bot.services.directory.current
    yg3 = d.find_building("阳光花园", "3号楼")
    other = d.find_building("幸福里", "1号楼")
    assert yg3 and other
    assert await numbers(building=str(yg3.id)) == ["1001"]
    assert (await web.client.get("/tickets", params={"building": str(other.id)})).status == 403
    assert (await web.client.get("/tickets", params={"status": "lost"})).status == 400
    assert (await web.client.get("/tickets", params={"rung": "9"})).status == 400


async def test_ticket_page_shows_timeline_and_the_messages_that_made_it(web: Harness) -> None:
    await web.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    await web.say(ROOM3, "李大爷", "3号楼2单元楼道灯坏了，晚上看不见")
    assert await sign_in(web.client, "赵书记") == 302
    html = await (await web.client.get("/tickets/1001")).text()
    assert "工单 #1001" in html
    assert "3号楼2单元楼道灯坏了好几天了" in html and "晚上看不见" in html
    assert "报事" in html and "附议" in html
    assert (await web.client.get("/tickets/99999")).status == 404
    assert (await web.client.get("/tickets/abc")).status == 400


async def test_another_areas_ticket_is_refused(web: Harness) -> None:
    await _three_tickets(web)
    assert await sign_in(web.client, "郑书记") == 302
    r = await web.client.get("/tickets/1001")
    assert r.status == 403 and "不在您的辖区" in await r.text()
    r = await web.client.get("/tickets/1003")
    assert r.status == 200
    html = await (await web.client.get("/tickets")).text()
    assert 'data-number="1003"' in html and 'data-number="1001"' not in html


async def test_ledger_download_holds_only_the_area_with_phones_masked(
    web_any: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = web_any
    # the workbook is built outside the database's threads (a district's month of tickets
    # takes seconds, and SQLite's one thread is where every incoming message is stored)
    built_in: list[str] = []
    build = Ledger.ledger_xlsx

    def recorded(self: Ledger, *args: Any) -> bytes:
        built_in.append(threading.current_thread().name)
        return build(self, *args)

    monkeypatch.setattr(Ledger, "ledger_xlsx", recorded)
    await _three_tickets(web)
    assert await sign_in(web.client, "赵书记") == 302
    r = await web.client.get(
        "/downloads/ledger.xlsx", params={"start": "2026-11-01", "end": "2026-11-30"}
    )
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(await r.read()))
    rows = list(wb["问题台账"].iter_rows(values_only=True))
    assert rows[0][:3] == ("工单号", "报事时间", "类别")
    assert [row[0] for row in rows[1:]] == [1001, 1002]
    assert "138****5678" in str(rows[1][9]) and "13812345678" not in str(rows)
    assert len(built_in) == 1 and not built_in[0].startswith("db-"), built_in
    r = await web.client.get("/downloads/ledger.xlsx", params={"start": "2026-13-01"})
    assert r.status == 400


async def test_monthly_report_has_rates_ranking_and_ledger(web: Harness) -> None:
    await _three_tickets(web)

    def resolve(session: Session) -> None:
        t = session.exec(select(Ticket).where(Ticket.number == 1001)).one()
        t.status, t.rating = "closed", "满意"
        t.first_response_at = t.resolved_at = t.created_at + timedelta(minutes=10)
        t.responded_on_time = t.resolved_on_time = True
        session.add(t)

    await web.db.run(resolve)
    assert await sign_in(web.client, "钱主任") == 302  # the street: both communities
    r = await web.client.get("/downloads/monthly.xlsx", params={"month": "2026-11"})
    assert r.status == 200
    wb = load_workbook(io.BytesIO(await r.read()))
    assert wb.sheetnames == ["台账", "汇总", "红黑榜"]  # bot/report.py's workbook
    assert [row[0] for row in wb["台账"].iter_rows(min_row=2, values_only=True)] == [
        1001,
        1002,
        1003,
    ]
    summary = list(wb["汇总"].iter_rows(values_only=True))
    assert "华福社区、青年社区" in str(summary[0][0])
    assert summary[3][:4] == ("全部", 3, 1, "33%")
    ranking = [
        row
        for row in wb["红黑榜"].iter_rows(min_row=2, values_only=True)
        if isinstance(row[0], int)
    ]
    assert ranking[0][1] == "阳光花园" and ranking[0][-1] == "红榜"
    assert {row[1] for row in ranking} == {"阳光花园", "和平新村", "幸福里"}

    assert await sign_in(web.client, "赵书记") == 302  # one community: its own report
    r = await web.client.get("/downloads/monthly.xlsx", params={"month": "2026-11"})
    wb = load_workbook(io.BytesIO(await r.read()))
    assert [row[0] for row in wb["台账"].iter_rows(min_row=2, values_only=True)] == [1001, 1002]
    assert "幸福里" not in str(list(wb["红黑榜"].values))
    r = await web.client.get("/downloads/monthly.xlsx", params={"month": "11/2026"})
    assert r.status == 400


async def _possible_complaint(h: Harness, room_id: str, text: str) -> int:
    d = h.bot.services.directory.current
    b = d.building_of_room(room_id)
    assert b is not None

    def add(session: Session) -> int:
        msg = Message(
            channel_message_id=f"pc-{text}",
            room_id=room_id,
            sender_id="sim_王阿姨",
            sender_name="王阿姨",
            text=text,
            time=START,
            received_at=START,
            handled=True,
        )
        session.add(msg)
        session.flush()
        from storage.tickets import ensure_person

        ensure_person(session, "sim_王阿姨", "王阿姨", START)
        assert msg.id is not None
        pc = PossibleComplaint(
            message_id=msg.id,
            room_id=room_id,
            building_id=b.id,
            community_id=b.community_id,
            sender_id="sim_王阿姨",
            text=text,
            category="repair",
            confidence=0.4,
            created_at=START,
        )
        session.add(pc)
        session.flush()
        assert pc.id is not None
        return pc.id

    return await h.db.run(add)


async def test_possible_complaint_becomes_a_ticket_or_is_dismissed(web: Harness) -> None:
    first = await _possible_complaint(web, "room-yg-3", "楼下那个门好像一直关不上")
    second = await _possible_complaint(web, "room-yg-3", "今天物业的人来了吗")
    other = await _possible_complaint(web, "room-xf-1", "车库的灯是不是该换了")
    assert await sign_in(web.client, "赵书记") == 302
    html = await (await web.client.get("/complaints")).text()
    assert "一直关不上" in html and "车库的灯" not in html
    token = csrf_of(html)
    r = await web.client.post(
        f"/complaints/{first}/ticket",
        data={"_csrf": token, "category": "repair", "urgent": "1"},
        allow_redirects=False,
    )
    assert r.status == 302 and r.headers["Location"] == "/tickets/1001"
    r = await web.client.post(
        f"/complaints/{second}/dismiss", data={"_csrf": token, "reason": "闲聊"}
    )
    assert r.status == 200
    r = await web.client.post(f"/complaints/{other}/dismiss", data={"_csrf": token})
    assert r.status == 403
    r = await web.client.post(f"/complaints/{first}/dismiss", data={"_csrf": token})
    assert r.status == 400  # handled already

    def state(session: Session) -> tuple[Any, ...]:
        t = session.exec(select(Ticket)).one()
        pcs = {p.id: p.status for p in session.exec(select(PossibleComplaint))}
        log = [a.action for a in session.exec(select(AuditLog))]
        return t, pcs, log

    t, pcs, log = await web.db.run(state)
    assert (t.source, t.urgent, t.category, t.reporter_id) == (
        "dashboard",
        True,
        "repair",
        "sim_王阿姨",
    )
    assert t.next_deadline_kind == "response"
    assert pcs == {first: "ticketed", second: "dismissed", other: "open"}
    assert log == ["complaint.ticket", "complaint.dismiss"]
    await web.advance(0)  # the outbox goes out on the next tick
    [announcement] = await web.bot_lines(ROOM3)
    assert "#1001" in announcement and "@王红管" in announcement
    page = await (await web.client.get("/tickets/1001")).text()
    assert "一直关不上" in page


async def test_admin_edits_are_logged_and_reload_the_directory(web: Harness) -> None:
    c = web.client
    assert await sign_in(c, "管理员") == 302
    token = await page_csrf(c, "/directory")
    d = web.bot.services.directory.current
    yg3 = d.find_building("阳光花园", "3号楼")
    assert yg3 is not None

    def compound_id(session: Session) -> int:
        return session.exec(select(Building).where(Building.id == yg3.id)).one().compound_id

    cid = await web.db.run(compound_id)
    r = await c.post(
        "/directory/buildings", data={"_csrf": token, "compound_id": str(cid), "name": "7号楼"}
    )
    assert r.status == 200 and "已新增楼栋" in await r.text()
    assert web.bot.services.directory.current.find_building("阳光花园", "7号楼") is not None
    r = await c.post(
        "/directory/roles",
        data={
            "_csrf": token,
            "person_id": "wxid_newsteward",
            "name": "钟管家",
            "role": "red_steward",
            "scope": f"building:{yg3.id}",
        },
    )
    assert r.status == 200
    assert [p.name for p in web.bot.services.directory.current.stewards_of(yg3)] == [
        "王红管",
        "钟管家",
    ]
    r = await c.post(
        "/directory/rooms", data={"_csrf": token, "room_id": "room-yg-1", "building_id": "none"}
    )
    assert r.status == 200
    assert web.bot.services.directory.current.building_of_room("room-yg-1") is None
    r = await c.post(
        "/directory/roles",
        data={"_csrf": token, "person_id": "x", "role": "admin", "scope": "street:燕山街道"},
    )
    assert r.status == 400

    def grant_id(session: Session) -> int:
        g = session.exec(
            select(RoleAssignment).where(RoleAssignment.person_id == "wxid_newsteward")
        ).one()
        assert g.id is not None
        return g.id

    gid = await web.db.run(grant_id)
    assert (await c.post(f"/directory/roles/{gid}/revoke", data={"_csrf": token})).status == 200
    assert [p.name for p in web.bot.services.directory.current.stewards_of(yg3)] == ["王红管"]

    def log(session: Session) -> list[str]:
        return [a.action for a in session.exec(select(AuditLog))]

    assert await web.db.run(log) == ["building.add", "role.grant", "room.bind", "role.revoke"]
    html = await (await c.get("/directory")).text()
    assert "钟管家" in html and "变更记录" in html


async def test_non_admin_cannot_edit_the_directory(web: Harness) -> None:
    c = web.client
    assert await sign_in(c, "赵书记") == 302
    token = await page_csrf(c, "/directory")
    r = await c.post(
        "/directory/rooms", data={"_csrf": token, "room_id": "room-yg-1", "building_id": "none"}
    )
    assert r.status == 403

    def room(session: Session) -> Room | None:
        return session.get(Room, "room-yg-1")

    stored = await web.db.run(room)
    assert stored is not None and stored.building_id is not None
    html = await (await c.get("/directory")).text()
    assert "幸福里" not in html and "阳光花园" in html


async def test_ranking_lists_the_compounds_of_the_area(web_any: Harness) -> None:
    await _three_tickets(web_any)
    assert await sign_in(web_any.client, "赵书记") == 302
    html = await (await web_any.client.get("/ranking")).text()
    assert "阳光花园" in html and "和平新村" in html and "幸福里" not in html
    assert await sign_in(web_any.client, "吴科长") == 302
    html = await (await web_any.client.get("/ranking")).text()
    assert "幸福里" in html


async def test_ticket_api_needs_sign_in_outside_the_simulator(sqlite_url: str) -> None:
    class QuietChannel:
        self_id = "wxid_redsteward"

        async def start(self, on_message: Any, on_room_event: Any) -> None:
            return None

        async def stop(self) -> None:
            return None

        async def send(self, message: Any) -> str | None:
            return None

        async def room_topics(self) -> dict[str, str]:
            return {}

    bot = build_bot(
        two_area_settings(),
        db=Database(sqlite_url),
        channel=QuietChannel(),  # type: ignore[arg-type]
        clock=SimClock(START, running=False),
    )
    client = TestClient(TestServer(create_app(bot, background=False)))
    await client.start_server()
    try:
        assert (await client.get("/api/tickets")).status == 401
        r = await client.get("/", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("/login")
        assert (await client.get("/sim")).status == 404
        assert await sign_in(client, "赵书记") == 302
        assert (await client.get("/api/tickets")).status == 200
    finally:
        await client.close()


async def test_resolved_today_and_rates_on_the_overview(web: Harness) -> None:
    await _three_tickets(web)

    def resolve(session: Session) -> None:
        t = session.exec(select(Ticket).where(Ticket.number == 1002)).one()
        t.status = "resolved"
        t.first_response_at = t.resolved_at = t.created_at + timedelta(minutes=5)
        t.responded_on_time = t.resolved_on_time = True
        session.add(t)

    await web.db.run(resolve)

    def outbox(session: Session) -> int:
        return len(list(session.exec(select(OutboxMessage))))

    before = await web.db.run(outbox)
    assert await sign_in(web.client, "赵书记") == 302
    html = await (await web.client.get("/")).text()
    assert 'id="resolved-today">1<' in html and 'id="open-count">1<' in html
    assert "50.0%" in html  # 1 of 2 responded in time
    for path in ("/tickets", "/tickets/1001", "/ranking", "/complaints", "/directory"):
        assert (await web.client.get(path)).status == 200
    assert await web.db.run(outbox) == before  # looking sends nothing


async def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(web: Harness) -> None:
    c = web.client
    for asked, lands in (("/tickets?status=new", "/tickets?status=new"), ("//evil.example/", "/")):
        html = await (await c.get("/login", params={"next": asked})).text()
        r = await c.post(
            "/login",
            data={"login": "赵书记", "password": "wrong", "_csrf": csrf_of(html), "next": asked},
        )
        assert r.status == 401
        html = await r.text()
        r = await c.post(
            "/login",
            data={"login": "赵书记", "password": "demo", "_csrf": csrf_of(html), "next": asked},
            allow_redirects=False,
        )
        assert r.status == 302 and r.headers["Location"] == lands
        token = await page_csrf(c, "/")
        assert (await c.post("/logout", data={"_csrf": token}, allow_redirects=False)).status == 302


async def test_ticket_api_shows_a_signed_in_user_only_their_area(web: Harness) -> None:
    await _three_tickets(web)
    assert sorted(t["number"] for t in await web.tickets()) == [1001, 1002, 1003]  # the simulator
    assert await sign_in(web.client, "郑书记") == 302
    assert [t["number"] for t in await web.tickets()] == [1003]
    assert (await web.client.get("/api/tickets/1001")).status == 404
    assert (await web.client.get("/api/tickets/1003")).status == 200


async def test_a_ticket_handled_in_the_chat_shows_its_whole_life(web_any: Harness) -> None:
    h = web_any
    await h.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了")
    await h.advance(5)
    await h.say(ROOM3, "王红管", "#接单 1001")
    await h.say(ROOM3, "王红管", "#方案 1001 今天下午更换灯泡")
    await h.advance(60)
    await h.say(ROOM3, "王红管", "#办结 1001 已更换，灯亮了")
    await h.say(ROOM3, "张阿姨", "#评价 1001 满意 很及时")
    [t] = await h.tickets()
    assert t["status"] == "closed", await h.bot_lines(ROOM3)
    assert await sign_in(h.client, "赵书记") == 302
    html = await (await h.client.get("/tickets/1001")).text()
    for step in (
        "报事",
        "接单",
        "出方案",
        "办结",
        "评价",
        "今天下午更换灯泡",
        "#接单 1001",
        "王红管",
    ):
        assert step in html, step
    html = await (await h.client.get("/")).text()
    assert html.count("100.0%") == 3  # 响应率, 办结率, 满意率
    html = await (await h.client.get("/ranking")).text()
    assert "红榜" in html and "阳光花园" in html


async def test_repeated_wrong_passwords_are_slowed_down(web: Harness) -> None:
    c = web.client
    for _ in range(5):
        assert await sign_in(c, "赵书记", "guess") == 401
    # the sixth try is refused, even with the right password, until the window passes
    token = await page_csrf(c, "/login")
    r = await c.post("/login", data={"login": "赵书记", "password": "demo", "_csrf": token})
    assert r.status == 429 and "登录失败次数过多，请15分钟后再试" in await r.text()
    assert r.headers["Retry-After"] == "900"
    assert await sign_in(c, "钱主任", "demo") == 302  # another account is not held up
    await web.advance(16)
    assert await sign_in(c, "赵书记", "demo") == 302
