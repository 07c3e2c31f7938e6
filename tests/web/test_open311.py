"""Open311 GeoReport v2: the standard's field names, status values, filters, errors, XML."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree as ET

from sqlmodel import Session, select

from storage.models import Ticket, TicketEvent
from tests.harness import Harness
from tests.web.conftest import OTHER_ROOM

KEY = "demo-12345-hotline-key"
ROOM3 = "阳光花园3号楼业主群"
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


async def test_services_are_the_taxonomy(web: Harness) -> None:
    r = await web.client.get("/open311/v2/services.json")
    assert r.status == 200 and r.content_type == "application/json"
    services = await r.json()
    assert {s["service_code"] for s in services} >= {"repair", "sanitation", "safety", "parking"}
    for s in services:
        assert set(s) == SERVICE_FIELDS
        assert s["metadata"] is False and s["type"] in ("realtime", "batch", "blackbox")
    r = await web.client.get("/open311/v2/services.xml")
    assert r.status == 200 and r.content_type == "text/xml"
    root = ET.fromstring(await r.read())
    assert root.tag == "services"
    first = root.find("service")
    assert first is not None and {c.tag for c in first} == SERVICE_FIELDS
    assert first.findtext("metadata") == "false"


async def test_post_needs_an_api_key_and_answers_errors_the_standard_way(web: Harness) -> None:
    c = web.client
    body = {"service_code": "repair", "description": "电梯坏了", "address_string": "阳光花园3号楼"}
    r = await c.post("/open311/v2/requests.json", data=body)
    assert r.status == 403
    errors = await r.json()
    assert isinstance(errors, list) and set(errors[0]) == {"code", "description"}
    assert errors[0]["code"] == 403
    r = await c.post("/open311/v2/requests.xml", data={**body, "api_key": "wrong"})
    assert r.status == 403
    root = ET.fromstring(await r.read())
    assert root.tag == "errors" and root.findtext("error/code") == "403"
    r = await c.post(
        "/open311/v2/requests.json", data={**body, "api_key": KEY, "service_code": "x"}
    )
    assert r.status == 404
    r = await c.post(
        "/open311/v2/requests.json",
        data={"api_key": KEY, "service_code": "repair", "description": "x"},
    )
    assert r.status == 400 and "location" in (await r.json())[0]["description"]
    r = await c.post(
        "/open311/v2/requests.json",
        data={**body, "api_key": KEY, "jurisdiction_id": "elsewhere.example"},
    )
    assert r.status == 404
    assert await web.tickets() == []


async def test_hotline_hand_over_becomes_a_ticket_and_is_told_to_the_group(web: Harness) -> None:
    r = await web.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": KEY,
            "jurisdiction_id": "lixia.jinan.redsteward",
            "service_code": "repair",
            "description": "市民来电：阳光花园3号楼2单元502室门口水管漏水，电话13900001111",
            "address_string": "济南市历下区阳光花园3号楼2单元",
            "first_name": "王",
            "phone": "13900001111",
        },
    )
    assert r.status == 201, await r.text()
    [created] = await r.json()
    assert created["service_request_id"] == "1001"
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    await web.advance(0)
    [told] = await web.bot_lines(ROOM3)
    assert "12345热线" in told and "#1001" in told and "@王红管" in told
    assert "13900001111" not in told and "502" not in told
    assert await web.bot_lines(OTHER_ROOM) == []

    def stored(session: Session) -> tuple[Ticket, list[TicketEvent]]:
        t = session.exec(select(Ticket)).one()
        return t, list(session.exec(select(TicketEvent)))

    t, events = await web.db.run(stored)
    assert (t.source, t.category, t.reporter_id) == ("hotline", "repair", "hotline:12345热线")
    assert t.building_id == web.bot.services.directory.current.find_building("阳光花园", "3号楼").id  # type: ignore[union-attr]
    assert t.next_deadline_kind == "response" and not t.urgent
    assert events[0].data == {"open311": {"first_name": "王", "phone": "13900001111"}}


async def test_an_urgent_hand_over_makes_an_urgent_ticket(web: Harness) -> None:
    """The hand-over's text is classified (before the database work) for urgency: a gas
    leak reported on the hotline is as urgent as one reported in the group."""
    r = await web.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": KEY,
            "service_code": "repair",
            "description": "市民来电：阳光花园3号楼楼道里煤气泄漏，味道很大，请马上处理",
            "address_string": "济南市历下区阳光花园3号楼",
        },
    )
    assert r.status == 201, await r.text()
    t = await web.db.run(lambda s: s.exec(select(Ticket)).one())
    assert t.urgent and t.major and t.source == "hotline"


async def test_requests_filters_and_status_values(web_any: Harness) -> None:
    web = web_any
    await web.say(ROOM3, "张阿姨", "3号楼2单元楼道灯坏了好几天了，电话13812345678")
    await web.say("和平新村5号楼业主群", "小刘", "5号楼门口垃圾没人清理，都臭了")
    await web.say(OTHER_ROOM, "老陈", "1号楼电梯坏了，困了半天")

    def close(session: Session) -> None:
        t = session.exec(select(Ticket).where(Ticket.number == 1002)).one()
        t.status = "closed"
        t.resolved_at = t.closed_at = t.created_at + timedelta(hours=2)
        session.add(t)

    await web.db.run(close)
    c = web.client

    async def ids(**params: str) -> list[str]:
        r = await c.get("/open311/v2/requests.json", params=params)
        assert r.status == 200, await r.text()
        items = await r.json()
        for item in items:
            assert set(item) == REQUEST_FIELDS
            assert item["status"] in ("open", "closed")
        return sorted(i["service_request_id"] for i in items)

    assert await ids() == ["1001", "1002", "1003"]
    assert await ids(status="open") == ["1001", "1003"]
    assert await ids(status="closed") == ["1002"]
    assert await ids(status="open,closed") == ["1001", "1002", "1003"]
    assert await ids(service_code="sanitation") == ["1002"]
    assert await ids(service_code="repair,sanitation") == ["1001", "1002", "1003"]
    assert await ids(service_request_id="1003,1001", status="closed") == ["1001", "1003"]
    assert await ids(start_date="2026-11-24T00:00:00+08:00") == []
    assert await ids(
        start_date="2026-11-23T00:00:00+08:00", end_date="2026-11-23T23:59:59+08:00"
    ) == [
        "1001",
        "1002",
        "1003",
    ]
    assert await ids(end_date="2026-11-01T00:00:00Z") == []
    r = await c.get("/open311/v2/requests/1001.json")
    [one] = await r.json()
    assert one["status"] == "open" and one["service_code"] == "repair"
    assert one["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert "13812345678" not in one["description"] and "138****5678" in one["description"]
    assert one["expected_datetime"] == "2026-11-24T10:00:00+08:00"  # the solution deadline
    [closed] = await (await c.get("/open311/v2/requests/1002.json")).json()
    assert closed["status"] == "closed" and closed["expected_datetime"] is None
    r = await c.get("/open311/v2/requests/1001.xml")
    root = ET.fromstring(await r.read())
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == "1001"
    assert root.findtext("request/status") == "open"
    for bad in ({"status": "pending"}, {"start_date": "last week"}, {"service_code": "nope"}):
        r = await c.get("/open311/v2/requests.json", params=bad)
        assert r.status == 400 and (await r.json())[0]["code"] == 400
    r = await c.get("/open311/v2/requests/9999.json")
    assert r.status == 404 and (await r.json())[0]["code"] == 404
    r = await c.get("/open311/v2/requests/abc.xml")
    assert r.status == 404 and ET.fromstring(await r.read()).tag == "errors"
    r = await c.get(
        "/open311/v2/requests.json", params={"start_date": "2026-11-30", "end_date": "2026-11-01"}
    )
    assert r.status == 400


async def test_openapi_document_describes_tickets_and_open311(web: Harness) -> None:
    r = await web.client.get("/api/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/tickets", "/api/tickets/{number}", "/open311/v2/requests.json"} <= set(
        doc["paths"]
    )
    assert "post" in doc["paths"]["/open311/v2/requests.json"]


async def test_a_hand_over_sent_twice_makes_one_ticket(web: Harness) -> None:
    body = {
        "api_key": KEY,
        "service_code": "utilities",
        "description": "和平新村6号楼暖气不热，家里只有15度",
        "address_string": "和平新村6号楼",
    }
    ids = []
    for _ in range(2):
        r = await web.client.post(
            "/open311/v2/requests.json",
            data=body,
            headers={"Idempotency-Key": "12345-20261123-0042"},
        )
        assert r.status == 201
        ids.append((await r.json())[0]["service_request_id"])
    r = await web.client.post(
        "/open311/v2/requests.json", data={**body, "attribute[hotline_id]": "12345-20261123-0043"}
    )
    ids.append((await r.json())[0]["service_request_id"])
    assert ids == ["1001", "1001", "1002"]
    assert len(await web.tickets()) == 2
    await web.advance(0)
    assert len(await web.bot_lines("和平新村6号楼业主群")) == 2
    from tests.web.util import sign_in

    assert await sign_in(web.client, "赵书记") == 302
    html = await (await web.client.get("/tickets/1001")).text()
    assert "热线转办" in html and "只有15度" in html
