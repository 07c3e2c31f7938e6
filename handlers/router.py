"""Commands: `#接单 1024`, `／办结 1024 已更换灯泡`, parsed before the handler runs."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from handlers.context import Context
from handlers.errors import UsageError

ArgKind = Literal["number", "text", "optional_text", "mention", "word", "choice"]
PREFIXES = ("#", "/")
# commands a resident may type without the prefix (the whole message is the word)
BARE_COMMANDS = ("我的数据",)
_NUMBER = re.compile(r"^#?\s*(\d{1,9})(?!\d)")
_MENTION = re.compile(r"^@(\S+?)(?:[\u2005\s]+|$)")


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command."""

    name: str
    kind: ArgKind
    choices: tuple[str, ...] = ()


@dataclass(slots=True)
class CommandArgs:
    """A command's parsed arguments."""

    command: str
    raw: str
    values: dict[str, object] = field(default_factory=dict)
    mention_ids: tuple[str, ...] = ()

    def number(self, name: str = "number") -> int:
        """A ticket number argument."""
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def text(self, name: str) -> str:
        """A text argument ('' when optional and absent)."""
        value = self.values.get(name, "")
        assert isinstance(value, str)
        return value


Handler = Callable[[Context, CommandArgs], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Command:
    """A registered command."""

    name: str
    aliases: tuple[str, ...]
    args: tuple[Arg, ...]
    usage: str
    example: str
    summary: str
    roles: frozenset[str] | None  # None: everyone
    handler: Handler

    def parse(self, raw: str, mentions: Sequence[tuple[str, str]]) -> CommandArgs:
        """Parse the text after the command word; raise UsageError with the usage line."""
        rest = raw.strip()
        parsed = CommandArgs(self.name, raw)
        mention_ids: list[str] = []
        for i, arg in enumerate(self.args):
            last = i == len(self.args) - 1
            if arg.kind == "number":
                m = _NUMBER.match(rest)
                if not m:
                    raise UsageError(self.usage, "缺少工单号" if not rest else "工单号应是数字")
                parsed.values[arg.name] = int(m.group(1))
                rest = rest[m.end() :].strip()
            elif arg.kind == "mention":
                m = _MENTION.match(rest)
                if not m:
                    raise UsageError(self.usage, "请@要指定的人")
                name = m.group(1)
                parsed.values[arg.name] = name
                pid = next((p for p, n in mentions if n == name), None)
                if pid:
                    mention_ids.append(pid)
                rest = rest[m.end() :].strip()
            elif arg.kind in ("word", "choice"):
                if not rest:
                    raise UsageError(self.usage, f"缺少{arg.name}")
                word, _, rest = rest.partition(" ")
                rest = rest.strip()
                if arg.kind == "choice" and word not in arg.choices:
                    raise UsageError(
                        self.usage, f"“{word[:10]}”不是可选项（{'|'.join(arg.choices)}）"
                    )
                parsed.values[arg.name] = word
            elif arg.kind in ("text", "optional_text"):
                if not last:
                    raise TypeError("a text argument must come last")
                if not rest and arg.kind == "text":
                    raise UsageError(self.usage, f"缺少{arg.name}")
                parsed.values[arg.name] = rest
                rest = ""
        if rest:
            raise UsageError(self.usage, "多余的内容")
        parsed.mention_ids = tuple(mention_ids)
        return parsed


@lru_cache(maxsize=256)
def normalise(text: str) -> str:
    """Full-width to half-width (＃１０２４ → #1024), runs of spaces folded, @ kept.

    Remembered for the last texts: each message is normalised by the command lookup and
    by the intake check, one right after the other.
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2005", " ").replace("\u3000", " ")
    return re.sub(r"[ \t]+", " ", text).strip()


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command found in a message."""

    command: Command
    raw_args: str


class Router:
    """The commands of one feature; routers include each other."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []

    def command(
        self,
        name: str,
        *,
        usage: str,
        example: str,
        summary: str,
        args: Sequence[Arg] = (),
        aliases: Sequence[str] = (),
        roles: Sequence[str] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for a command word."""

        def register(fn: Handler) -> Handler:
            self.commands.append(
                Command(
                    name,
                    tuple(aliases),
                    tuple(args),
                    usage,
                    example,
                    summary,
                    frozenset(roles) if roles is not None else None,
                    fn,
                )
            )
            return fn

        return register

    def include(self, other: Router) -> None:
        """Take over another router's commands."""
        self.commands.extend(other.commands)

    def lookup(self) -> dict[str, Command]:
        """Every command word and alias, lower-cased."""
        table: dict[str, Command] = {}
        for c in self.commands:
            for word in (c.name, *c.aliases):
                table[word.lower()] = c
        return table

    def find(self, text: str) -> Invocation | None:
        """The command a message invokes, if it starts with a prefix and a known word."""
        t = normalise(text)
        if t in BARE_COMMANDS:
            t = "#" + t
        if not t or t[0] not in PREFIXES:
            return None
        body = t[1:].lstrip()
        table = self.lookup()
        # the longest word that the body starts with: "#接单1024" and "#接单 1024" both work
        for word in sorted(table, key=len, reverse=True):
            if body.lower().startswith(word):
                tail = body[len(word) :]
                if word.isascii() and tail[:1].isalpha():
                    continue  # "/claimed" is not "/claim"
                return Invocation(table[word], tail.strip())
        return None
