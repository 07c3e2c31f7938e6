"""The tables. Times are naive UTC throughout; the bot converts to local time for people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# A ticket's life: new -> claimed -> planned -> resolved -> closed; cancelled from open states.
TICKET_STATUSES = ("new", "claimed", "planned", "resolved", "closed", "cancelled")
OPEN_STATUSES = ("new", "claimed", "planned")
# The escalation ladder: 0 the property's steward, then grid, community, street, district.
RUNGS = ("property", "grid", "community", "street", "district")


class Community(SQLModel, table=True):
    """A community (社区) under a street (街道) under a district (区县)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    street: str = Field(index=True)
    district: str = Field(index=True)


class Compound(SQLModel, table=True):
    """A residential compound (小区)."""

    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    name: str


class Building(SQLModel, table=True):
    """A building (楼栋) of a compound."""

    __table_args__ = (UniqueConstraint("compound_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    compound_id: int = Field(foreign_key="compound.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    name: str  # "3号楼"


class Room(SQLModel, table=True):
    """A chat group, bound by its chat id (not its topic) to a building."""

    id: str = Field(primary_key=True)
    topic: str = Field(index=True)
    building_id: int | None = Field(default=None, foreign_key="building.id", index=True)
    # the bot account (its chat id, bot.self_id) that sits in the group and posts there
    account: str | None = None
    updated_at: datetime


class Person(SQLModel, table=True):
    """Someone who wrote to the bot or holds a role; identified by chat id."""

    id: str = Field(primary_key=True)
    name: str
    phone: str | None = None
    password_hash: str | None = None
    created_at: datetime
    erased: bool = False


class RoleAssignment(SQLModel, table=True):
    """A role held somewhere: scope_kind building|compound|community|street|district|global."""

    __table_args__ = (UniqueConstraint("person_id", "role", "scope_kind", "scope_value"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", index=True)
    role: str = Field(index=True)
    scope_kind: str
    scope_value: str  # a building or compound id, a community id, a street or district name
    # revoked grants stay so that re-reading the config does not bring them back
    revoked: bool = False


class Message(SQLModel, table=True):
    """Every message the bot received, stored once (replays are recognised by channel id).

    Every message pays for every index on this table, and most are chit-chat: it has only
    the indexes a query uses. By sender (a person's data, their votes); the few messages
    not yet handled (recovery after a crash), and those of a ticket, by partial indexes
    that chit-chat (stored handled, with no ticket) never enters.
    """

    __table_args__ = (
        Index(
            "ix_message_unhandled",
            "id",
            sqlite_where=text("handled = 0"),
            postgresql_where=text("NOT handled"),
        ),
        Index(
            "ix_message_ticket",
            "ticket_id",
            sqlite_where=text("ticket_id IS NOT NULL"),
            postgresql_where=text("ticket_id IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel_message_id: str = Field(unique=True)
    room_id: str | None = None
    sender_id: str = Field(index=True)
    sender_name: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = "text"
    media_path: str | None = None
    time: datetime
    received_at: datetime
    handled: bool = False
    intent: str | None = None
    ticket_id: int | None = None


class Ticket(SQLModel, table=True):
    """A resident's problem, from report to rating."""

    __table_args__ = (
        Index("ix_ticket_open_deadline", "status", "next_deadline_at"),
        Index("ix_ticket_building_created", "building_id", "created_at"),
        Index("ix_ticket_community_created", "community_id", "created_at"),
        # the overview's open/overdue counts by area, the overdue lists (#逾期, digest) and
        # the board's newest overdue (number: chosen from the index alone)
        Index(
            "ix_ticket_open_overdue",
            "status",
            "building_id",
            "community_id",
            "overdue_at",
            "number",
        ),
        # the rates of a period (storage/stats.rates): every column they read, so a month of
        # tickets is counted from the index alone; it serves every created_at range too
        Index(
            "ix_ticket_created_rates",
            "created_at",
            "category",
            "status",
            "responded_on_time",
            "resolved_on_time",
            "resolved_at",
            "rating",
        ),
        # the digest's claimed / resolved / closed counts of some buildings
        Index("ix_ticket_building_responded", "building_id", "first_response_at"),
        Index("ix_ticket_building_resolved", "building_id", "resolved_at"),
        Index("ix_ticket_building_closed", "building_id", "closed_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)
    category: str = Field(index=True)
    urgent: bool = False
    major: bool = False
    summary: str = Field(sa_column=Column(Text, nullable=False))
    keywords: str | None = None  # the words that made it, space-separated (duplicate check)
    location: str | None = None
    building_id: int | None = Field(default=None, foreign_key="building.id")
    community_id: int | None = Field(default=None, foreign_key="community.id")
    room_id: str | None = None
    reporter_id: str = Field(foreign_key="person.id", index=True)
    assignee_id: str | None = Field(default=None, foreign_key="person.id", index=True)
    status: str = Field(default="new", index=True)
    rung: int = 0
    reporters_count: int = 1
    source: str = "group"  # group | private | hotline | dashboard
    source_message_id: int | None = None
    created_at: datetime  # indexed by ix_ticket_created_rates
    first_response_at: datetime | None = Field(default=None, index=True)
    plan_at: datetime | None = None
    reply_at: datetime | None = None
    resolved_at: datetime | None = Field(default=None, index=True)
    closed_at: datetime | None = Field(default=None, index=True)
    cancelled_at: datetime | None = None
    # the last time an unsatisfied rating reopened it: its deadlines count from here again
    reopened_at: datetime | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None  # response | plan | reply | solution | rating
    reminded_at: datetime | None = None
    # an open ticket's first unmet "2341" deadline (None once it is not open): past it, the
    # ticket is overdue (逾期). Set with next_deadline (handlers/sla.refresh_deadline), but
    # unlike it never moved on by the sweep — the one "overdue" every count and list uses.
    overdue_at: datetime | None = None
    overdue_kind: str | None = None  # response | plan | reply | solution
    # set when the step happens, against the deadline then in force (the rates count these)
    responded_on_time: bool | None = None
    resolved_on_time: bool | None = None
    rating: str | None = None
    rating_comment: str | None = None
    updated_at: datetime


class TicketReporter(SQLModel, table=True):
    """Everyone who reported a ticket: the first reporter and those who seconded it (附议)."""

    # (ticket_id, person_id) also serves every query of a ticket's reporters
    __table_args__ = (UniqueConstraint("ticket_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    person_id: str = Field(foreign_key="person.id", index=True)
    message_id: int | None = None
    time: datetime


class TicketEvent(SQLModel, table=True):
    """The append-only log of a ticket: who did what, when, from which message."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    # created, seconded, claimed, planned, progress, resolved, transferred, escalated, rated,
    # reopened, closed, cancelled (see handlers/lifecycle.py)
    kind: str
    actor_id: str | None = None
    time: datetime
    message_id: int | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


class PossibleComplaint(SQLModel, table=True):
    """A message the classifier was unsure of: stewards see it, it is not ticketed."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    room_id: str | None = None
    building_id: int | None = Field(default=None, index=True)
    community_id: int | None = Field(default=None, index=True)
    sender_id: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    category: str | None = None
    confidence: float = 0.0
    created_at: datetime = Field(index=True)
    status: str = Field(default="open", index=True)  # open | ticketed | dismissed
    ticket_id: int | None = None


class OutboxMessage(SQLModel, table=True):
    """A message the bot has accepted to send: persisted, paced, retried, never sent twice."""

    __table_args__ = (
        Index("ix_outbox_pending", "status", "not_before"),
        Index("ix_outbox_account_pending", "account", "status", "not_before"),
        # a person's private messages (erasure); the group messages, most of them, stay out
        Index(
            "ix_outbox_person",
            "person_id",
            sqlite_where=text("person_id IS NOT NULL"),
            postgresql_where=text("person_id IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # idempotency key: a second enqueue with it is a no-op
    # the bot account that sends it (see storage/outbox.py); None: any account may
    account: str | None = None
    room_id: str | None = None  # no query looks for a group's messages here
    person_id: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    mentions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    image_path: str | None = None
    urgent: bool = False
    created_at: datetime
    not_before: datetime
    status: str = Field(default="pending")  # pending | sending | sent | merged | failed
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, index=True)
    channel_message_id: str | None = None
    merged_into: int | None = None


class Counter(SQLModel, table=True):
    """Named counters (ticket numbers): incremented under a row lock."""

    name: str = Field(primary_key=True)
    value: int


class SignInFailure(SQLModel, table=True):
    """A failed dashboard sign-in, counted by account and by address (bot/web/auth.py)."""

    __table_args__ = (Index("ix_signinfailure_key_at", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str  # "login:<account, case-folded>" or "addr:<remote address>"
    at: datetime


class AuditLog(SQLModel, table=True):
    """Changes to buildings, groups, people and roles: who changed what."""

    id: int | None = Field(default=None, primary_key=True)
    time: datetime = Field(index=True)
    actor_id: str | None = None
    action: str
    detail: str = Field(sa_column=Column(Text, nullable=False))


class Notice(SQLModel, table=True):
    """A notice to many groups (#通知): its text, sender, range, and when it went out."""

    id: int | None = Field(default=None, primary_key=True)
    sender_id: str = Field(index=True)
    scope: str  # the range as the sender wrote it
    rooms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    template: str | None = None
    # draft (waits for 确认) | scheduled | sending | done | cancelled | expired
    status: str = Field(default="draft", index=True)
    created_at: datetime
    send_at: datetime | None = None  # scheduled moment (None: at once on 确认)
    confirmed_at: datetime | None = None
    sent_at: datetime | None = None  # when it was handed to the outbox
    reported_at: datetime | None = None
    reached: int | None = None


class NoticeDelivery(SQLModel, table=True):
    """One group of a notice: the outbox row's key and how it went."""

    __table_args__ = (UniqueConstraint("notice_id", "room_id"),)
    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    room_id: str
    outbox_key: str
    status: str = "pending"  # pending | sent | failed
    attempts: int = 0
    error: str | None = None
    sent_at: datetime | None = None


class Attachment(SQLModel, table=True):
    """A photo stored by content hash; attached to a ticket as evidence or proof of the fix."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True)
    file_name: str  # <sha256>.<ext> under media_dir
    mime: str
    size: int
    message_id: int = Field(unique=True)
    room_id: str | None = Field(default=None, index=True)
    person_id: str = Field(index=True)
    ticket_id: int | None = Field(default=None, index=True)
    role: str | None = None  # evidence | proof (None: not attached)
    time: datetime = Field(index=True)


class Vote(SQLModel, table=True):
    """An owners' vote (业主表决) over some buildings, with its archived result."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    scope: str
    building_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    major: bool = False
    creator_id: str
    created_at: datetime
    deadline: datetime = Field(index=True)
    status: str = Field(default="open", index=True)  # open | closed
    closed_at: datetime | None = None
    result: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


class Ballot(SQLModel, table=True):
    """One household's current ballot in a vote (a later one replaces it until the deadline)."""

    __table_args__ = (UniqueConstraint("vote_id", "household"),)
    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="vote.id", index=True)
    household: str  # "阳光花园3号楼2-301" from the register, or "chat:<id>"
    person_id: str
    option: int  # 1-based
    area: float | None = None
    time: datetime
    changes: int = 0
