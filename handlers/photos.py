"""Photos in a group: kept by content hash and attached to the ticket they show.

A resident's photo belongs to their own ticket when it comes within `media.window_minutes`
before or after the complaint, or when it quotes the ticket (#N in the quoted text); a
steward's photo after 办结 is kept as proof of the fix.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

from loguru import logger
from sqlalchemy import or_
from sqlmodel import Session, col, select

from handlers.context import Context, Tx
from storage.directory import BuildingInfo, Directory
from storage.media import MediaRejected, StoredMedia, store, unattached_photos
from storage.models import Attachment, Ticket, TicketReporter
from storage.tickets import add_event, ticket_by_number

_QUOTED_TICKET = re.compile(r"#\s*(\d{1,9})")
STAFF_ROLES = ("red_steward", "grid_worker")


def _is_staff(d: Directory, person_id: str, building: BuildingInfo | None) -> bool:
    if building is None:
        return False
    return any(d.holds(person_id, r, building) for r in STAFF_ROLES) or d.holds(person_id, "admin")


def _reported_by(session: Session, ticket: Ticket, person_id: str) -> bool:
    if ticket.reporter_id == person_id:
        return True
    return (
        session.exec(
            select(TicketReporter.id).where(
                TicketReporter.ticket_id == ticket.id, TicketReporter.person_id == person_id
            )
        ).first()
        is not None
    )


def _quoted(ctx: Context, session: Session, quoted_text: str | None) -> tuple[Ticket, str] | None:
    if not quoted_text:
        return None
    for m in _QUOTED_TICKET.finditer(quoted_text):
        t = ticket_by_number(session, int(m.group(1)))
        if t is None:
            continue
        b = ctx.directory.buildings.get(t.building_id) if t.building_id else None
        if _is_staff(ctx.directory, ctx.sender_id, b):
            return t, "proof" if t.status in ("resolved", "closed") else "evidence"
        if _reported_by(session, t, ctx.sender_id):
            return t, "evidence"
    return None


def _proof(ctx: Context, session: Session) -> Ticket | None:
    """The ticket of this building the steward resolved lately."""
    b = ctx.building
    if b is None or not _is_staff(ctx.directory, ctx.sender_id, b):
        return None
    since = ctx.now - timedelta(minutes=ctx.settings.media.proof_minutes)
    return session.exec(
        select(Ticket)
        .where(
            Ticket.building_id == b.id,
            col(Ticket.status).in_(["resolved", "closed"]),
            col(Ticket.resolved_at) >= since,
        )
        .order_by(col(Ticket.resolved_at).desc())
    ).first()


def _own_recent(ctx: Context, session: Session) -> Ticket | None:
    """The sender's ticket from this group opened within the window before now."""
    since = ctx.now - timedelta(minutes=ctx.settings.media.window_minutes)
    seconded = select(TicketReporter.ticket_id).where(TicketReporter.person_id == ctx.sender_id)
    return session.exec(
        select(Ticket)
        .where(
            Ticket.room_id == ctx.room_id,
            col(Ticket.created_at) >= since,
            or_(col(Ticket.reporter_id) == ctx.sender_id, col(Ticket.id).in_(seconded)),
        )
        .order_by(col(Ticket.created_at).desc())
    ).first()


def attach(
    session: Session, att: Attachment, ticket: Ticket, role: str, actor: str, now: datetime
) -> None:
    """Attach a photo to a ticket and log it in the ticket's history."""
    att.ticket_id, att.role = ticket.id, role
    session.add(att)
    add_event(
        session,
        ticket,
        "photo",
        now,
        actor,
        message_id=att.message_id,
        detail="整改凭证" if role == "proof" else "现场照片",
        data={"file": att.file_name, "role": role},
    )


def attach_recent_photos(
    session: Session,
    ticket: Ticket,
    person_id: str,
    room_id: str | None,
    now: datetime,
    minutes: float,
) -> int:
    """A new complaint takes the reporter's unattached photos of the window before it."""
    if room_id is None:
        return 0
    rows = unattached_photos(session, person_id, room_id, now - timedelta(minutes=minutes))
    for att in rows:
        attach(session, att, ticket, "evidence", person_id, now)
    return len(rows)


async def handle_image(ctx: Context, media_path: Path | None, quoted_text: str | None) -> None:
    """Keep the photo and attach it where it belongs; an unattached one is kept quietly."""
    ctx.intent = "image"
    cfg = ctx.settings.media
    stored: StoredMedia | None = None
    if media_path is not None:
        try:
            stored = await asyncio.get_running_loop().run_in_executor(
                None,
                store,
                media_path,
                Path(ctx.settings.bot.media_dir),
                cfg.max_bytes,
                list(cfg.types),
            )
        except (MediaRejected, OSError) as e:
            logger.info("image {} from {} not kept: {}", ctx.channel_message_id, ctx.sender_id, e)
    if stored is None:
        ctx.intent = "image_rejected"
        await ctx.finish()
        return
    media = stored

    def work(session: Session, tx: Tx) -> None:
        att = Attachment(
            sha256=media.sha256,
            file_name=media.file_name,
            mime=media.mime,
            size=media.size,
            message_id=ctx.message_id,
            room_id=ctx.room_id,
            person_id=ctx.sender_id,
            time=ctx.now,
        )
        found = _quoted(ctx, session, quoted_text)
        if found is None:
            proof = _proof(ctx, session)
            if proof is not None:
                found = (proof, "proof")
        if found is None and ctx.room_id is not None:
            own = _own_recent(ctx, session)
            if own is not None:
                found = (own, "evidence")
        if found is None:
            session.add(att)
            return
        ticket, role = found
        attach(session, att, ticket, role, ctx.sender_id, ctx.now)
        ctx.ticket_id = ticket.id
        key = "photo_proof" if role == "proof" else "photo_attached"
        tx.send(
            ctx.reply(
                ctx.settings.template(key).format(mention="", number=ticket.number),
                mention_sender=True,
            )
        )

    await ctx.run(work)
