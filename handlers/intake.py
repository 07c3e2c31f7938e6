"""Complaints become tickets: acknowledged at once, merged with duplicates, never lost."""

from __future__ import annotations

import itertools
from functools import lru_cache

from sqlmodel import Session

from handlers.context import Context, Outbound, Tx
from handlers.photos import attach_recent_photos
from handlers.privacy import mask_for_group
from handlers.sla import refresh_deadline, refresh_overdue
from nlp import Understanding
from storage.directory import BuildingInfo
from storage.models import Ticket
from storage.tickets import (
    Alike,
    IntakeKey,
    add_possible_complaint_later,
    alike_now,
    ask_alike_ahead,
    create_ticket,
    intake_lock_key,
    lock_intake,
    window_start,
)


@lru_cache(maxsize=4096)
def _bigrams(text: str) -> frozenset[str]:
    # cached: each open ticket's summary is compared with every complaint that follows
    chars = [c for c in text if c.isalnum()]
    return frozenset(a + b for a, b in itertools.pairwise(chars))


def similarity(a: str, b: str, keywords_a: set[str], keywords_b: set[str]) -> float:
    """How alike two complaints are: the things they name, or shared character pairs.

    The keyword sets hold what is wrong (电梯, 楼道灯), not how (坏了): the share of the
    shorter report's words found in the other (a terse and a wordy report of one broken
    light are one problem; a lift and a light are two).
    """
    kw = (
        len(keywords_a & keywords_b) / min(len(keywords_a), len(keywords_b))
        if keywords_a and keywords_b
        else 0.0
    )
    ba, bb = _bigrams(a), _bigrams(b)
    jac = len(ba & bb) / len(ba | bb) if ba and bb else 0.0
    return max(kw, jac)


def summary_of(text: str, limit: int = 200) -> str:
    """The complaint as stored: the resident's own words, trimmed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def category_label(ctx: Context, code: str) -> str:
    """The label people see for a category code."""
    return ctx.services.classifier.categories.get(code, code)


def steward_mentions(building: BuildingInfo | None, ctx: Context) -> tuple[list[str], str]:
    """The building's stewards as mention ids and as '@王红管' text."""
    if building is None:
        return [], ""
    stewards = ctx.directory.stewards_of(building)
    return [p.id for p in stewards], "、".join(f"@{p.name}\u2005" for p in stewards)


async def open_complaint(ctx: Context, u: Understanding, *, explicit: bool = False) -> None:
    """Turn a complaint into a ticket (or a 附议 of an open one) and acknowledge it."""
    building = ctx.building
    s = ctx.settings
    text = ctx.text
    category = u.category or u.best_category or s.tickets.default_category
    subjects = ctx.services.classifier.subject_words
    keywords = subjects(u.keywords)
    place = u.location.text if u.location and u.location.text else None
    if place is None and building is not None:
        place = building.label
    ctx.intent = "complaint"

    bid = building.id if building else None
    wanted = IntakeKey(
        bid, category, window_start(ctx.now, s.tickets.duplicate_window_hours), ctx.sender_id
    )

    def work(session: Session, tx: Tx, fetched: Alike | None = None) -> int:
        lock_intake(session, bid, category)
        alike = fetched or alike_now(session, wanted)
        for t in alike.candidates(wanted.since):
            if t.reporter_id == ctx.sender_id and not explicit:
                pass  # the same resident again: one ticket
            elif similarity(text, t.summary, keywords, subjects((t.keywords or "").split())) < (
                s.tickets.duplicate_similarity
            ):
                continue
            count = alike.second(
                session, t, ctx.sender_id, ctx.message_id, ctx.now, s.tickets.major_reporters
            )
            if count == s.tickets.major_reporters:
                # turned major by this count: a written reply is due too (rarely earlier
                # than the step it already waits for, but the SLA decides). The seconding
                # may be written at the end of the transaction (see Alike): major as it
                # will write it
                seconded = session.get(Ticket, t.id, populate_existing=True)
                assert seconded is not None
                seconded.major = True
                refresh_overdue(seconded, s)
                session.add(seconded)
            ctx.ticket_id = t.id
            if count is not None or t.reporter_id != ctx.sender_id:
                tx.send(
                    ctx.reply(
                        s.template("ack_duplicate").format(
                            mention="",
                            number=t.number,
                            category=category_label(ctx, t.category),
                            reporters=t.reporters_count if count is None else count,
                        ),
                        mention_sender=True,
                    )
                )
            return t.id
        ticket = create_ticket(
            session,
            first_number=s.tickets.first_number,
            category=category,
            urgent=u.urgent,
            summary=summary_of(text),
            keywords=" ".join(sorted(u.keywords)) or None,
            location=place,
            building_id=bid,
            community_id=building.community_id if building else None,
            room_id=ctx.room_id,
            reporter_id=ctx.sender_id,
            message_id=ctx.message_id,
            now=ctx.now,
            source="private" if ctx.is_private else "group",
            major=category in s.tickets.major_categories,
            # its "2341" clock, written with it: the response is due first
            prepare=lambda t: refresh_deadline(t, s),
            data={
                "keywords": sorted(u.keywords),
                "confidence": round(u.confidence, 3),
                "explicit": explicit,
            },
        )
        ctx.ticket_id = ticket.id
        alike.opened(ticket)
        # photos the resident posted just before the complaint belong to it
        attach_recent_photos(
            session, ticket, ctx.sender_id, ctx.room_id, ctx.now, s.media.window_minutes
        )
        ids, names = steward_mentions(building, ctx)
        key = "ack_urgent" if u.urgent else "ack"
        place_part = s.template("place_part").format(place=mask_for_group(place)) if place else ""
        reply = ctx.reply(
            s.template(key).format(
                mention="",
                number=ticket.number,
                category=category_label(ctx, category),
                place_part=place_part,
                stewards=names or s.template("ack_no_steward"),
            ),
            mentions=ids,
            mention_sender=True,
            urgent=u.urgent,
        )
        tx.send(reply)
        assert ticket.id is not None
        return ticket.id

    # the intake lock is declared, so complaints of many groups may share a transaction
    # (and be compared with open tickets fetched ahead for all of them)
    ahead = ask_alike_ahead(ctx.services.db, wanted)
    await ctx.run(work, locks=(intake_lock_key(bid, category),), before=ahead)


async def keep_possible_complaint(ctx: Context, u: Understanding) -> None:
    """A message the classifier was unsure of: kept for the stewards, the group sees nothing."""
    building = ctx.building
    ctx.intent = "possible"

    def work(session: Session, _tx: Tx) -> None:
        add_possible_complaint_later(
            session,
            message_id=ctx.message_id,
            room_id=ctx.room_id,
            building_id=building.id if building else None,
            community_id=building.community_id if building else None,
            sender_id=ctx.sender_id,
            text=ctx.text,
            category=u.category or u.best_category,
            confidence=u.confidence,
            now=ctx.now,
        )

    await ctx.run(work, locks=())  # one insert: it locks nothing another waits for


def unbound_room_reply(ctx: Context) -> Outbound:
    """Tell a group that is bound to no building how to bind it."""
    return ctx.reply(ctx.settings.template("unbound_room"))
