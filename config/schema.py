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
    # a send that has not returned by then counts as failed and is retried with backoff
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    # what was sent is deleted this long after, once a day at prune_at (local time); never
    # sooner than the digest and report jobs look back for what they sent (bot/jobs/prune.py)
    keep_days: int = Field(default=90, ge=7)
    prune_at: time = time(3, 30)


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
    """The "2341" response rule: respond, plan, reply in writing (major), solve.

    With working_time on, the clock of a non-urgent ticket runs only in working hours of
    working days (Chinese public holidays and make-up working days from chinese-calendar).
    After the solution deadline an open ticket keeps climbing one rung every
    escalate_every_hours until the top.
    """

    response_minutes: float = Field(default=20, gt=0)
    plan_minutes: float = Field(default=30, gt=0)
    reply_hours: float = Field(default=4, gt=0)
    solution_hours: float = Field(default=24, gt=0)
    working_time: bool = False
    work_start: time = time(8, 30)
    work_end: time = time(17, 30)
    escalate_every_hours: float = Field(default=24, gt=0)

    @model_validator(mode="after")
    def _working_day(self) -> SlaConfig:
        if self.work_start >= self.work_end:
            raise ValueError("work_start must be before work_end")
        return self


class LeadTime(_Model):
    """When a notice is posted: some days before the day, at a local time."""

    days_before: int = Field(default=0, ge=0, le=30)
    at: time = time(8, 0)


class NoticeConfig(_Model):
    """A recurring notice of one community, posted to all its groups.

    `day` is an APScheduler cron day expression: "5,15,25", "2nd tue", "last fri".
    holiday: what happens when the day is a public holiday — post anyway, skip, or move
    to the next working day.
    """

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    community: str = Field(min_length=1)
    topic: str = "reception_day"  # the consult topic it answers: reception_day, five_listen
    title: str = Field(min_length=1)
    day: str = Field(min_length=1)
    month: str = "*"
    start: time = time(9, 0)
    end: time | None = None
    place: str = ""
    who: str = ""
    lead_times: list[LeadTime] = Field(
        default_factory=lambda: [LeadTime(days_before=1, at=time(19, 0)), LeadTime(at=time(8, 0))]
    )
    holiday: Literal["post", "skip", "next_workday"] = "post"
    template: str | None = None  # a template key, or the text itself; default per topic
    grace_minutes: float = Field(default=60, ge=0)

    @field_validator("day")
    @classmethod
    def _cron_day(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(day=v)
        except ValueError as e:
            raise ValueError(f"not a cron day expression ({e})") from e
        return v


class DigestConfig(_Model):
    """The daily digest to community secretaries."""

    enabled: bool = True
    at: time = time(8, 30)
    chart: bool = True
    chart_days: int = Field(default=14, ge=2, le=90)
    top: int = Field(default=3, ge=1, le=20)
    catch_up_hours: float = Field(default=1, ge=0)  # a bot back within the hour still sends it


class ReportConfig(_Model):
    """The monthly report (台账, rates, 红黑榜) on the first of the month."""

    enabled: bool = True
    day: int = Field(default=1, ge=1, le=28)
    at: time = time(9, 0)
    dir: str = "var/reports"
    catch_up_hours: float = Field(default=72, ge=0)


class NoticeTemplate(_Model):
    """A common notice (停水, 停电 …): its text with {字段} blanks the sender fills in."""

    name: str = Field(min_length=1)
    text: str = Field(min_length=1)
    fields: list[str] = Field(default_factory=list)  # in the order the usage shows them
    defaults: dict[str, str] = Field(default_factory=dict)


DEFAULT_NOTICE_TEMPLATES: list[NoticeTemplate] = [
    NoticeTemplate(
        name="停水",
        text="【停水通知】因{原因}，{范围}将于{时间}停水，请各位业主提前做好储水准备。"
        "给您带来不便，敬请谅解。{落款}",
        fields=["时间", "原因", "落款"],
        defaults={"原因": "供水管网维修", "落款": ""},
    ),
    NoticeTemplate(
        name="停电",
        text="【停电通知】因{原因}，{范围}将于{时间}停电，届时电梯暂停运行，"
        "请提前做好准备，注意用电安全。{落款}",
        fields=["时间", "原因", "落款"],
        defaults={"原因": "供电线路检修", "落款": ""},
    ),
    NoticeTemplate(
        name="消防检查",
        text="【消防检查通知】{时间}将对{范围}进行消防安全检查，请清理楼道杂物、"
        "电动车不要在楼道内停放充电，请家中留人配合。{落款}",
        fields=["时间", "落款"],
        defaults={"落款": ""},
    ),
    NoticeTemplate(
        name="电梯维保",
        text="【电梯维保通知】{范围}电梯将于{时间}进行维护保养，期间暂停使用，"
        "请合理安排出行，带好老人孩子。{落款}",
        fields=["时间", "落款"],
        defaults={"落款": ""},
    ),
]


class BroadcastConfig(_Model):
    """Notices to many groups (#通知): confirmation, delivery report, templates."""

    confirm_minutes: float = Field(default=30, gt=0)  # a preview waits this long for 确认
    # the sender's report goes when every group got it, or at the latest after this
    report_after_minutes: float = Field(default=60, gt=0)
    max_chars: int = Field(default=1500, ge=10)
    templates: list[NoticeTemplate] = Field(default_factory=lambda: list(DEFAULT_NOTICE_TEMPLATES))


ImageType = Literal["jpeg", "png", "gif", "webp"]
IMAGE_TYPES: tuple[ImageType, ...] = ("jpeg", "png", "gif", "webp")


class MediaConfig(_Model):
    """Photos residents post: what is kept, and when it belongs to a ticket."""

    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    types: list[ImageType] = Field(default_factory=lambda: list(IMAGE_TYPES))
    # a resident's photo this long before or after their complaint belongs to it
    window_minutes: float = Field(default=30, ge=0)
    # a steward's photo this long after 办结 is the proof of the fix
    proof_minutes: float = Field(default=120, ge=0)


class VoteConfig(_Model):
    """Owners' votes (业主表决): thresholds per Civil Code Art. 278 by default."""

    participation_at_least: float = Field(default=2 / 3, gt=0, le=1)  # by area and by number
    ordinary_more_than: float = Field(default=0.5, ge=0, lt=1)  # of participants
    major_at_least: float = Field(default=0.75, gt=0, le=1)  # of participants
    max_options: int = Field(default=9, ge=2, le=20)
    # each evening the groups of an open vote see its turnout (None: only in replies)
    turnout_at: time | None = time(20, 0)


class HouseholdConfig(_Model):
    """An owner household: its unit, floor area and the owners' chat ids (or names)."""

    compound: str = Field(min_length=1)
    building: str = Field(min_length=1)
    room: str = Field(min_length=1)  # 2-301
    area: float | None = Field(default=None, gt=0)  # m² of the exclusive part
    owners: list[str] = Field(default_factory=list)


class BotConfig(_Model):
    """The bot's identity and runtime choices."""

    name: str = "红管家"
    self_id: str = "wxid_redsteward"
    channel: Literal["sim", "wechaty"] = "sim"
    timezone: str = "Asia/Shanghai"
    database: str = "sqlite:///var/redsteward.db"
    taxonomy: str | None = None  # a taxonomy TOML; default: config/taxonomy.toml
    # classify messages in a child process: off the event loop, on another core
    classifier_process: bool = True
    media_dir: str = "var/media"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy_file(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no taxonomy file at {v!r} (a path from the working directory)")
        return v


class WebConfig(_Model):
    """The web app: dashboard, simulator API, sign-in sessions."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # signs the session cookie; env REDSTEWARD_SECRET_KEY wins; empty: a random key per run
    secret_key: str = ""
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    secure_cookie: bool = False  # set when the dashboard is served over HTTPS


class Open311Key(_Model):
    """A system allowed to hand tickets over (e.g. the city's 12345 hotline)."""

    name: str = Field(min_length=1)  # shown as the reporter: "12345热线"
    key: str = Field(min_length=16)


class Open311Config(_Model):
    """The Open311 GeoReport v2 endpoint for the city's systems."""

    jurisdiction_id: str = "redsteward.local"
    api_keys: list[Open311Key] = Field(default_factory=list)
    # env REDSTEWARD_OPEN311_KEY adds one key named "12345热线"


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
    "ack_hotline": (
        "12345热线转来反映：工单 #{number}【{category}】{place_part}：{summary}。"
        "请红色管家{stewards}尽快处理。"
    ),
    "ack_from_dashboard": (
        "社区已将这条反映登记为工单 #{number}【{category}】{place_part}。"
        "请红色管家{stewards}尽快处理。"
    ),
    "private_hint": "您好，我是{bot}。请在本楼业主群里直接说明问题，或发送“#帮助”查看可用命令。",
    # the clock: reminders, escalation, notices, digest (issue 5)
    "remind_group": (
        "{mentions}⏰提醒：工单 #{number}【{category}】{place}的{deadline}时限已过（应在{due}前），"
        "请尽快处理：{action}"
    ),
    "remind_private": (
        "⏰提醒：工单 #{number}【{category}】{place}的{deadline}时限已过（应在{due}前），"
        "请尽快处理：{action}"
    ),
    "escalate_private": (
        "🔺工单 #{number} 已升级到{rung}：{deadline}时限已过（应在{due}前）。\n"
        "【{category}】{place}：{summary}\n"
        "报告于{created}，状态：{status}，负责人：{assignee}。\n"
        "请督办：发送“#工单 {number}”查看，“#升级 {number} 原因”继续上报。"
    ),
    "urgent_private": (
        "🚨紧急工单 #{number}【{category}】{place}：{summary}\n"
        "报告于{created}，请立即处置：发送“#接单 {number}”认领，“#工单 {number}”查看。"
    ),
    "notice_reception_day": (
        "📢{community}{title}：{day_word}{date} {hours}，地点：{place}，{who}接待业主，"
        "欢迎大家前来反映问题、提出建议。"
    ),
    "notice_five_listen": (
        "📢民意“5”来听：{day_word}{date} {hours}，{who}到{place}听取居民意见，有事可当面反映。"
    ),
    "consult_next_notice": "下一次{title}：{date} {hours}，地点：{place}{who_part}。",
    "consult_no_notice": "本社区暂未登记{title}的安排，请咨询红色管家{stewards}。",
    # --- the ticket's life (handlers/tickets.py, resident.py, ticket_talk.py) -------------
    # Group status lines: {mention} is "@名字\u2005" of the reporters (they are @-mentioned);
    # {number} ticket number, {category} its label, {actor} who acted ("红色管家王红管").
    "status_claimed": "{mention}您反映的工单 #{number}【{category}】已由{actor}接单，正在处理。",
    "status_planned": "{mention}工单 #{number} 的处理方案（{actor}）：{text}",
    "status_progress": "{mention}工单 #{number} 有新进展（{actor}）：{text}",
    # {text} the resolution note; asks the reporters to rate
    "status_resolved": (
        "{mention}工单 #{number}【{category}】已办结（{actor}）：{text}。"
        "请您评价：发送“#评价 {number} 满意”，或“基本满意”“不满意”，可在后面附上意见。"
    ),
    # {rating} 满意|基本满意
    "status_closed_rated": "{mention}感谢您的评价（{rating}）！工单 #{number} 已关闭。",
    # {rung} the ladder rung now on it (网格/社区/街道/区县)
    "status_reopened": (
        "{mention}收到您的评价（不满意），工单 #{number} 已重新打开并报{rung}跟进，会尽快再处理。"
    ),
    "status_cancelled": "{mention}工单 #{number} 已按您的要求撤销。",
    # private notices to the person who had the ticket
    "cancel_notice": "工单 #{number}【{category}】已被报事居民撤销，无需再处理。",
    "takeover_notice": "工单 #{number}【{category}】已由{actor}接手处理。",
    # {hours} tickets.auto_close_hours
    "status_auto_closed": "{mention}工单 #{number} 办结后{hours}小时未收到评价，已自动关闭。",
    # The acting steward's own answer when the status line went elsewhere (private chat,
    # another group): {action} 接单|提交方案|更新进展|办结, {status} the new status label.
    "actor_done": "好的，工单 #{number} 已{action}（{status}），已告知报事居民。",
    # 附议 N: {reporters} how many residents reported it
    "seconded": "{mention}已为您附议工单 #{number}【{category}】，目前共有 {reporters} 位居民反映。",
    "seconded_already": "{mention}您已反映过工单 #{number}，目前共有 {reporters} 位居民反映。",
    # 转派: {target} the new person; the notice goes to them privately
    "transferred": "好的，工单 #{number} 已转派给{target}，已私信通知。",
    "transfer_notice": (
        "{actor}把工单 #{number}【{category}】转给您处理：{summary}（{place}）。"
        "下一步期限：{deadline}。接单请发送：#接单 {number}；查看详情：#工单 {number}"
    ),
    # 升级 (and a reopening): {rung} the new rung, {names} who was told, {reason}
    "escalated": "好的，工单 #{number} 已升级到{rung}，已通知：{names}。",
    "escalated_nobody": "好的，工单 #{number} 已升级到{rung}，但该级暂未登记负责人，请联系管理员。",
    "escalation_notice": (
        "【工单升级】#{number}【{category}】已升级到{rung}（{reason}）。"
        "{place}：{summary}。共 {reporters} 位居民反映，状态：{status}，下一步期限：{deadline}。"
        "处理请发送：#接单 {number}；查看详情：#工单 {number}"
    ),
    # 工单 N: the card; {reporter_part} is "，报事人：名字" only for staff in private chat
    "ticket_card": (
        "工单 #{number}【{category}】{status}{urgent}\n位置：{place}\n内容：{summary}\n"
        "负责人：{assignee}，层级：{rung}，{reporters} 位居民反映{reporter_part}\n"
        "下一步期限：{deadline}\n记录："
    ),
    # 待办 / 我的工单: one line per ticket, {deadline} local time ("11-23 10:20 回应")
    "todo_header": "您的待办工单（共 {count} 条，最早的在前）：",
    "todo_empty": "您目前没有待办工单。",
    "todo_line": "#{number}【{category}】{status} {place}：{summary}｜期限 {deadline}",
    "mine_header": "您反映的工单（共 {count} 条）：",
    "mine_empty": "您还没有反映过问题。在群里直接说明问题，或发送“#报修 问题描述”。",
    "mine_line": "#{number}【{category}】{status}：{summary}{deadline_part}",
    # admin commands
    "bound": "好的，本群已绑定到{building}，居民可以在群里直接报事了。",
    "role_set": "好的，已将{name}设为{place}的{role}。",
    "role_unset": "好的，已解除{name}的{role}角色（{count} 处）。",
    # --- the hub (handlers/broadcast.py, photos.py, votes.py) --------------------------
    # 通知 preview to the sender: {scope} the range, {groups} how many groups, {when}
    "notice_preview": (
        "通知预览（#{id}）——范围：{scope}，共 {groups} 个群{when}：\n{text}\n"
        "回复“#确认”发送，回复“#取消”放弃（{minutes}分钟内有效）。"
    ),
    "notice_confirmed": "好的，通知 #{id} 已开始发送到 {groups} 个群，全部发出后告诉您结果。",
    # confirmed inside quiet hours: {when} the end of quiet hours
    "notice_confirmed_quiet": (
        "好的，通知 #{id} 已排队，免打扰时段结束后（{when}）发送到 {groups} 个群，发出后告诉您结果。"
    ),
    "notice_scheduled": "好的，通知 #{id} 将于{when}发送到 {groups} 个群，发出后告诉您结果。",
    "notice_cancelled": "好的，通知 #{id} 已取消，不会发送。",
    # the report: {reached} of {total}; {failures} lines of what failed and why
    "notice_report": "通知 #{id} 发送结果：已送达 {reached}/{total} 个群。{late}{retried}{failures}",
    "photo_attached": "{mention}已将照片附到工单 #{number}。",
    "photo_proof": "{mention}已将照片作为工单 #{number} 的整改凭证存档。",
    # 表决: {id} number, {title}, {options} numbered lines, {deadline} local time
    "vote_started": (
        "🗳️业主表决 #{id}：{title}\n{options}\n截止：{deadline}。"
        "每户一票（截止前可改票），请私信我“#投票 {id} 选项号”，"
        "或在群里发送“#投票 {id} 选项号”。投票内容保密，群里只公布参与户数。"
    ),
    "vote_recorded": "已记录您家对表决 #{id} 的投票（{choice}），截止前可以改投。",
    "vote_turnout": "表决 #{id} 已有 {voted} 户参与投票{of_total}。",
    # the evening post: {deadline} local time
    "vote_turnout_daily": (
        "🗳️业主表决 #{id}：{title}，目前已有 {voted} 户参与投票{of_total}，"
        "截止{deadline}。还没投票的业主请私信我“#投票 {id} 选项号”。"
    ),
    "vote_result": "🗳️业主表决 #{id}：{title} 已截止。\n{lines}\n结论：{verdict}",
}


class Settings(_Model):
    """The whole configuration file."""

    bot: BotConfig = BotConfig()
    web: WebConfig = WebConfig()
    open311: Open311Config = Open311Config()
    wechaty: WechatyConfig = WechatyConfig()
    outbox: OutboxConfig = OutboxConfig()
    quiet_hours: QuietHours = QuietHours()
    tickets: TicketConfig = TicketConfig()
    sla: SlaConfig = SlaConfig()
    notices: list[NoticeConfig] = Field(default_factory=list)
    digest: DigestConfig = DigestConfig()
    report: ReportConfig = ReportConfig()
    broadcast: BroadcastConfig = BroadcastConfig()
    media: MediaConfig = MediaConfig()
    votes: VoteConfig = VoteConfig()
    households: list[HouseholdConfig] = Field(default_factory=list)
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
        notice_ids: set[str] = set()
        for i, n in enumerate(self.notices):
            if n.id in notice_ids:
                raise ValueError(f"notices[{i}].id: notice id {n.id!r} is listed twice")
            notice_ids.add(n.id)
            if n.community not in seen_communities:
                raise ValueError(f"notices[{i}].community: unknown community {n.community!r}")
        for i, hh in enumerate(self.households):
            if hh.compound not in compounds or hh.building not in compounds[hh.compound]:
                raise ValueError(f"households[{i}]: unknown building {hh.compound}{hh.building}")
        names = [t.name for t in self.broadcast.templates]
        if len(names) != len(set(names)):
            raise ValueError("broadcast.templates: a template name is listed twice")
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
