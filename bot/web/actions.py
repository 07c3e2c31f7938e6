"""The dashboard's and the open API's writes: tickets made outside the group chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.context import Services
from handlers.privacy import mask_for_group
from handlers.sla import refresh_deadline
from storage.directory import BuildingInfo, audit
from storage.models import Message, PossibleComplaint, Ticket
from storage.outbox import enqueue
from storage.tickets import (
    add_event,
    create_ticket,
    ensure_person,
    mark_handled,
    store_message,
)


class ActionRefused(Exception):
    """A write that cannot be done as asked (the message says why, in Chinese)."""


def announce_in_group(
    session: Session,
    services: Services,
    ticket: Ticket,
    building: BuildingInfo | None,
    template: str,
    key: str,
    now: datetime,
) -> int:
    """Post a new ticket into its building's groups (masked, outside quiet hours unless urgent)."""
    if building is None:
        return 0
    d = services.directory.current
    stewards = d.stewards_of(building)
    names = "、".join(f"@{p.name}\u2005" for p in stewards) or "（暂未登记）"
    place = ticket.location or building.label
    s = services.settings
    text = s.template(template).format(
        number=ticket.number,
        category=services.classifier.categories.get(ticket.category, ticket.category),
        place_part=s.template("place_part").format(place=mask_for_group(place)),
        summary=mask_for_group(ticket.summary),
        stewards=names,
    )
    not_before = now if ticket.urgent else services.after_quiet_hours(now)
    sent = 0
    for room_id in d.rooms_of_building(building.id):
        sent += enqueue(
            session,
            key=f"{key}:{room_id}",
            text=text,
            now=now,
            room_id=room_id,
            mentions=[p.id for p in stewards],
            not_before=not_before,
            urgent=ticket.urgent,
        )
    return sent


def ticket_from_complaint(
    session: Session,
    services: Services,
    complaint_id: int,
    category: str,
    urgent: bool,
    officer_id: str,
    now: datetime,
) -> Ticket:
    """Turn a possible complaint into a ticket, log it, and tell the group."""
    pc = session.get(PossibleComplaint, complaint_id)
    if pc is None:
        raise ActionRefused("没有这条疑似投诉")
    if pc.status != "open":
        raise ActionRefused("这条疑似投诉已经处理过了")
    msg = session.get(Message, pc.message_id)
    ensure_person(session, pc.sender_id, msg.sender_name if msg else pc.sender_id, now)
    building = services.directory.current.buildings.get(pc.building_id) if pc.building_id else None
    s = services.settings
    ticket = create_ticket(
        session,
        first_number=s.tickets.first_number,
        category=category,
        urgent=urgent,
        summary=" ".join(pc.text.split())[:200],
        location=building.label if building else None,
        building_id=pc.building_id,
        community_id=pc.community_id,
        room_id=pc.room_id,
        reporter_id=pc.sender_id,
        message_id=pc.message_id,
        now=now,
        source="dashboard",
        prepare=lambda t: refresh_deadline(t, s),
        data={"possible_complaint": complaint_id, "by": officer_id},
    )
    pc.status, pc.ticket_id = "ticketed", ticket.id
    session.add(pc)
    if msg is not None:
        msg.ticket_id = ticket.id
        session.add(msg)
    add_event(
        session,
        ticket,
        "from_possible_complaint",
        now,
        officer_id,
        message_id=pc.message_id,
        detail="工作台将疑似投诉登记为工单",
        data={"possible_complaint": complaint_id},
    )
    audit(
        session,
        now,
        officer_id,
        "complaint.ticket",
        f"疑似投诉 {complaint_id} 登记为工单 #{ticket.number}（{category}）",
    )
    announce_in_group(
        session, services, ticket, building, "ack_from_dashboard", f"pc:{complaint_id}:ack", now
    )
    return ticket


def dismiss_complaint(
    session: Session, complaint_id: int, officer_id: str, reason: str, now: datetime
) -> None:
    """Dismiss a possible complaint, with who and why in the audit log."""
    pc = session.get(PossibleComplaint, complaint_id)
    if pc is None:
        raise ActionRefused("没有这条疑似投诉")
    if pc.status != "open":
        raise ActionRefused("这条疑似投诉已经处理过了")
    pc.status = "dismissed"
    session.add(pc)
    audit(
        session,
        now,
        officer_id,
        "complaint.dismiss",
        f"疑似投诉 {complaint_id} 不予立案" + (f"：{reason}" if reason else ""),
    )


def hotline_ticket(
    session: Session,
    *,
    services: Services,
    source_name: str,
    hand_over_id: str,
    category: str,
    description: str,
    urgent: bool,
    building: BuildingInfo | None,
    address: str | None,
    contact: dict[str, Any],
    now: datetime,
) -> tuple[Ticket, bool]:
    """A ticket handed over by the city's hotline (Open311 POST); (ticket, new).

    The hand-over is stored as a message with its own id, so the ticket page shows it and a
    hand-over sent again (the same Idempotency-Key) finds its ticket instead of a second one.
    """
    reporter_id = f"hotline:{source_name}"
    ensure_person(session, reporter_id, source_name, now)
    stored = store_message(
        session,
        channel_message_id=f"open311:{source_name}:{hand_over_id}",
        room_id=None,
        sender_id=reporter_id,
        sender_name=source_name,
        text=description,
        time=now,
        now=now,
    )
    if stored.duplicate:
        msg = session.get(Message, stored.id)
        first = session.get(Ticket, msg.ticket_id) if msg and msg.ticket_id else None
        if first is not None:
            return first, False
    s = services.settings
    ticket = create_ticket(
        session,
        first_number=s.tickets.first_number,
        category=category,
        urgent=urgent,
        summary=" ".join(description.split())[:200],
        location=address or (building.label if building else None),
        building_id=building.id if building else None,
        community_id=building.community_id if building else None,
        room_id=None,
        reporter_id=reporter_id,
        message_id=stored.id,
        now=now,
        source="hotline",
        prepare=lambda t: refresh_deadline(t, s),
        data={"open311": contact},
    )
    mark_handled(session, stored.id, "complaint", ticket.id)
    announce_in_group(
        session, services, ticket, building, "ack_hotline", f"open311:{ticket.number}:ack", now
    )
    return ticket, True
