"""The one TOML configuration file, validated at start-up.

A bad file stops start-up with a message naming the key and what is wrong.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent

Role = Literal[
    "resident",
    "red_steward",
    "grid_worker",
    "community_secretary",
    "street_officer",
    "district_officer",
    "admin",
]
ROLE_LABELS: dict[str, str] = {
    "resident": "居民",
    "red_steward": "红色管家",
    "grid_worker": "网格员",
    "community_secretary": "社区书记",
    "street_officer": "街道干部",
    "district_officer": "区县干部",
    "admin": "管理员",
}


class ConfigError(Exception):
    """The configuration file is missing or invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompoundConfig(_Model):
    """A residential compound (小区) and its buildings."""

    name: str = Field(min_length=1)
    buildings: list[str] = Field(min_length=1)


class CommunityConfig(_Model):
    """A community (社区) with its place on the ladder: street and district."""

    name: str = Field(min_length=1)
    street: str = Field(min_length=1)
    district: str = Field(min_length=1)
    compounds: list[CompoundConfig] = Field(default_factory=list)


class RoomConfig(_Model):
    """A WeChat group bound to one building."""

    id: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    compound: str
    building: str


class RoleConfig(_Model):
    """A role and where it applies.

    red_steward / grid_worker: a compound (all its buildings) or listed buildings of it;
    community_secretary: a community; street_officer: a street; district_officer: a district.
    """

    role: Role
    compound: str | None = None
    buildings: list[str] = Field(default_factory=list)
    community: str | None = None
    street: str | None = None
    district: str | None = None

    @model_validator(mode="after")
    def _scope_fits_role(self) -> RoleConfig:
        need = {
            "red_steward": "compound",
            "grid_worker": "compound",
            "community_secretary": "community",
            "street_officer": "street",
            "district_officer": "district",
        }.get(self.role)
        if need and not getattr(self, need):
            raise ValueError(f"role {self.role} needs '{need}' (where it applies)")
        return self


class PersonConfig(_Model):
    """A known person: chat id, display name, roles (anyone else is a resident)."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    roles: list[RoleConfig] = Field(default_factory=list)
    password: str | None = None  # demo only: dashboard sign-in, hashed on load


class WechatyConfig(_Model):
    """How to reach the puppet service."""

    endpoint: str = ""
    token: str = ""
    tls: bool = True
    ca_file: str = ""
    insecure: bool = False  # plain gRPC: allowed only for a loopback endpoint


class OutboxConfig(_Model):
    """Pacing of the bot's own messages (WeChat penalises accounts that send fast)."""

    per_room_per_minute: int = Field(default=20, ge=1)
    per_account_per_minute: int = Field(default=60, ge=1)
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)


class QuietHours(_Model):
    """Hours in which non-urgent group posts wait for the morning."""

    start: time = time(22, 0)
    end: time = time(7, 0)
    enabled: bool = True


class TicketConfig(_Model):
    """Ticket rules: numbering, duplicates, ratings."""

    first_number: int = Field(default=1001, ge=1)
    duplicate_window_hours: float = Field(default=72, gt=0)
    duplicate_similarity: float = Field(default=0.35, ge=0, le=1)
    major_reporters: int = Field(default=3, ge=2)
    major_categories: list[str] = Field(default_factory=list)
    auto_close_hours: float = Field(default=72, gt=0)
    default_category: str = "service"


class SlaConfig(_Model):
    """The "2341" response rule: respond, plan, reply in writing (major), solve."""

    response_minutes: float = Field(default=20, gt=0)
    plan_minutes: float = Field(default=30, gt=0)
    reply_hours: float = Field(default=4, gt=0)
    solution_hours: float = Field(default=24, gt=0)


class BotConfig(_Model):
    """The bot's identity and runtime choices."""

    name: str = "红管家"
    self_id: str = "wxid_redsteward"
    channel: Literal["sim", "wechaty"] = "sim"
    timezone: str = "Asia/Shanghai"
    database: str = "sqlite:///var/redsteward.db"
    taxonomy: str | None = None  # a taxonomy TOML; default: config/taxonomy.toml
    media_dir: str = "var/media"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v


class WebConfig(_Model):
    """The web app: dashboard, simulator API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


DEFAULT_TEMPLATES: dict[str, str] = {
    "ack": (
        "{mention}已收到您的反映，工单 #{number}【{category}】{place_part}。"
        "本楼红色管家{stewards}会尽快处理，20分钟内回应。"
    ),
    "ack_urgent": (
        "{mention}⚠️紧急情况已收到，工单 #{number}【{category}】{place_part}。"
        "已同时通知{stewards}及网格员、社区，请注意安全！如有危险请先拨打119/120。"
    ),
    "ack_duplicate": (
        "{mention}这个问题已在工单 #{number}【{category}】中处理，已为您记为附议，"
        "目前共有 {reporters} 位居民反映。"
    ),
    "ack_no_steward": "本楼暂未登记红色管家，已转社区处理",
    "place_part": "，位置：{place}",
    "unbound_room": "本群还没有绑定楼栋，请管理员发送“#绑定 小区 楼栋”后再报事。",
    "consult_contact": "本楼{building}的红色管家：{stewards}；网格员：{grid}。有问题可直接在群里说明。",
    "consult_fees": "物业费标准与公共收益公示可咨询红色管家{stewards}，也可在社区物业管理窗口查询。",
    "consult_unknown": "这个问题我先记下了，红色管家{stewards}会为您解答。",
    "private_hint": "您好，我是{bot}。请在本楼业主群里直接说明问题，或发送“#帮助”查看可用命令。",
}


class Settings(_Model):
    """The whole configuration file."""

    bot: BotConfig = BotConfig()
    web: WebConfig = WebConfig()
    wechaty: WechatyConfig = WechatyConfig()
    outbox: OutboxConfig = OutboxConfig()
    quiet_hours: QuietHours = QuietHours()
    tickets: TicketConfig = TicketConfig()
    sla: SlaConfig = SlaConfig()
    communities: list[CommunityConfig] = Field(default_factory=list)
    rooms: list[RoomConfig] = Field(default_factory=list)
    people: list[PersonConfig] = Field(default_factory=list)
    templates: dict[str, str] = Field(default_factory=dict)
    source: str | None = None  # the file it came from

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        compounds: dict[str, set[str]] = {}
        seen_communities: set[str] = set()
        for c in self.communities:
            if c.name in seen_communities:
                raise ValueError(f"communities: community {c.name!r} is listed twice")
            seen_communities.add(c.name)
            for comp in c.compounds:
                if comp.name in compounds:
                    raise ValueError(f"communities: compound {comp.name!r} is listed twice")
                compounds[comp.name] = set(comp.buildings)
        streets = {c.street for c in self.communities}
        districts = {c.district for c in self.communities}
        room_ids: set[str] = set()
        for i, r in enumerate(self.rooms):
            if r.id in room_ids:
                raise ValueError(f"rooms[{i}].id: room id {r.id!r} is listed twice")
            room_ids.add(r.id)
            if r.compound not in compounds:
                raise ValueError(f"rooms[{i}].compound: unknown compound {r.compound!r}")
            if r.building not in compounds[r.compound]:
                raise ValueError(
                    f"rooms[{i}].building: {r.building!r} is not a building of {r.compound}"
                )
        person_ids: set[str] = set()
        for i, p in enumerate(self.people):
            if p.id in person_ids:
                raise ValueError(f"people[{i}].id: person id {p.id!r} is listed twice")
            person_ids.add(p.id)
            for j, role in enumerate(p.roles):
                where = f"people[{i}].roles[{j}]"
                if role.compound and role.compound not in compounds:
                    raise ValueError(f"{where}.compound: unknown compound {role.compound!r}")
                for b in role.buildings:
                    if role.compound and b not in compounds[role.compound]:
                        raise ValueError(f"{where}.buildings: {b!r} is not in {role.compound}")
                if role.community and role.community not in seen_communities:
                    raise ValueError(f"{where}.community: unknown community {role.community!r}")
                if role.street and role.street not in streets:
                    raise ValueError(f"{where}.street: unknown street {role.street!r}")
                if role.district and role.district not in districts:
                    raise ValueError(f"{where}.district: unknown district {role.district!r}")
        unknown = set(self.templates) - set(DEFAULT_TEMPLATES)
        if unknown:
            raise ValueError(f"templates: unknown template(s) {sorted(unknown)}")
        return self

    def template(self, key: str) -> str:
        """A reply template: the configured text, else the default."""
        return self.templates.get(key) or DEFAULT_TEMPLATES[key]

    @property
    def tz(self) -> ZoneInfo:
        """The deployment's time zone."""
        return ZoneInfo(self.bot.timezone)


def _format_error(e: ValidationError, source: str) -> str:
    lines = [f"configuration {source} is invalid:"]
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_settings(data: dict[str, object], source: str = "<dict>") -> Settings:
    """Validate a configuration mapping; raise ConfigError naming the bad key."""
    try:
        return Settings.model_validate({**data, "source": source})
    except ValidationError as e:
        raise ConfigError(_format_error(e, source)) from None


def load_settings(path: str | Path) -> Settings:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"configuration {p}: cannot read it ({e.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"configuration {p}: not valid TOML ({e})") from None
    return parse_settings(data, str(p))
