"""The taxonomy as configuration: loading config/taxonomy.toml into lookup tables."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TAXONOMY = Path(__file__).resolve().parent.parent / "config" / "taxonomy.toml"
DEFAULT_USERDICT = Path(__file__).resolve().parent.parent / "config" / "nlp_userdict.txt"

# what kinds of cue a surface string can carry besides category evidence
CUE_KINDS = (
    "question",
    "thanks",
    "notice",
    "notice_weak",
    "ads",
    "ads_weak",
    "resolved",
    "relapse",
    "report",
)


class TaxonomyError(ValueError):
    """The taxonomy configuration is malformed."""


@dataclass(slots=True)
class Entry:
    """Everything one surface string (a word or phrase) is evidence for."""

    cats: dict[str, float] = field(default_factory=dict)
    strong: bool = False  # names a problem, not only a thing
    problem: float = 0.0
    urgent: bool = False
    topics: list[str] = field(default_factory=list)
    cues: set[str] = field(default_factory=set)
    canonical: str = ""  # the word meant, when this surface is a typo variant
    neutral: bool = False  # means nothing and hides the words inside it (今天天气 hides 天天)


@dataclass(frozen=True, slots=True)
class Combo:
    """A thing and a state near each other that together are an emergency (燃气 … 漏)."""

    category: str | None
    pattern: re.Pattern[str]


@dataclass(slots=True)
class Settings:
    """Numeric knobs of the decision."""

    strong_weight: float = 3.0
    word_weight: float = 1.0
    complaint_threshold: float = 2.5
    borderline_threshold: float = 1.5
    proximity_bonus: float = 1.0
    lead_bonus: float = 0.0  # extra weight for the category of the first problem word
    # categories that yield to a concrete problem named alongside them
    secondary: tuple[str, ...] = ("service",)
    secondary_ratio: float = 0.6
    negation_window: int = 2
    default_category: str = "service"


@dataclass(slots=True)
class Taxonomy:
    """The parsed taxonomy: labels, one surface->Entry table, acks, places."""

    settings: Settings
    labels: dict[str, str]
    topic_labels: dict[str, str]
    entries: dict[str, Entry]
    acks: frozenset[str]
    places: tuple[str, ...]
    typos: dict[str, str]
    hypothetical_before: tuple[str, ...] = ()
    hypothetical_after: tuple[str, ...] = ()
    combos: tuple[Combo, ...] = ()
    combo_things: re.Pattern[str] | None = None  # any combo's thing: one search gates them all
    char_hints: dict[str, str] = field(default_factory=dict)  # character -> category
    notice_header: re.Pattern[str] | None = None
    # word -> context words that cancel it (暖气 … 漏气 is no gas leak)
    unless: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _str_list(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
        raise TaxonomyError(f"{where} must be a list of strings")
    return [w.strip() for w in raw if w.strip()]


def _weights(raw: Any, where: str) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{where} must be a table of word = weight")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if not isinstance(v, int | float):
            raise TaxonomyError(f"{where}.{k} must be a number")
        out[str(k)] = float(v)
    return out


def load_taxonomy_file(path: Path | str) -> dict[str, Any]:
    """Read a taxonomy TOML file into a plain dict."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def build_taxonomy(config: Mapping[str, Any]) -> Taxonomy:
    """Turn a taxonomy dict (as read from TOML) into lookup tables; raise TaxonomyError."""
    s_raw = config.get("settings", {})
    settings = Settings(**{k: v for k, v in s_raw.items() if k in Settings.__slots__})
    settings.secondary = tuple(settings.secondary)
    entries: dict[str, Entry] = {}

    def entry(word: str) -> Entry:
        return entries.setdefault(word, Entry())

    cats = config.get("categories")
    if not isinstance(cats, Mapping) or not cats:
        raise TaxonomyError("taxonomy needs at least one [categories.<code>] table")
    labels: dict[str, str] = {}
    for code, spec in cats.items():
        if not isinstance(spec, Mapping):
            raise TaxonomyError(f"categories.{code} must be a table")
        labels[code] = str(spec.get("label", code))
        weights = _weights(spec.get("weights"), f"categories.{code}.weights")
        for w in _str_list(spec.get("strong"), f"categories.{code}.strong"):
            e = entry(w)
            wt = weights.get(w, settings.strong_weight)
            e.cats[code] = max(e.cats.get(code, 0.0), wt)
            # a "strong" word weighted below 1 only names a thing
            e.strong = e.strong or wt >= 1.0
        for w in _str_list(spec.get("words"), f"categories.{code}.words"):
            e = entry(w)
            e.cats[code] = max(e.cats.get(code, 0.0), weights.get(w, settings.word_weight))
        for w, wt in weights.items():  # a weight for a word listed nowhere else adds it
            if code not in entry(w).cats:
                entries[w].cats[code] = wt
                entries[w].strong = wt >= settings.complaint_threshold
    if settings.default_category not in labels:
        settings.default_category = next(iter(labels))

    problem = config.get("problem", {})
    p_weights = _weights(problem.get("weights"), "problem.weights")
    for w in _str_list(problem.get("words"), "problem.words"):
        entry(w).problem = p_weights.get(w, 1.0)
    for w in _str_list(config.get("urgent", {}).get("words"), "urgent.words"):
        e = entry(w)
        e.urgent = True
        # an urgent word is always evidence of a problem, even outside any category
        e.problem = max(e.problem, 2.0)

    consult = config.get("consult", {})
    for w in _str_list(consult.get("question"), "consult.question"):
        entry(w).cues.add("question")
    for w in _str_list(consult.get("advice"), "consult.advice"):
        entry(w).cues.add("advice")
    topic_labels: dict[str, str] = {}
    for code, spec in (config.get("topics") or {}).items():
        topic_labels[code] = str(spec.get("label", code))
        for w in _str_list(spec.get("words"), f"topics.{code}.words"):
            if code not in entry(w).topics:
                entries[w].topics.append(code)

    none = config.get("none", {})
    for kind in (
        "thanks",
        "notice",
        "notice_weak",
        "ads",
        "ads_weak",
        "resolved",
        "relapse",
        "report",
    ):
        for w in _str_list(none.get(kind), f"none.{kind}"):
            entry(w).cues.add(kind)
    acks = frozenset(w.lower() for w in _str_list(none.get("acks"), "none.acks"))

    for w in _str_list((config.get("neutral") or {}).get("words"), "neutral.words"):
        if w not in entries:
            entries[w] = Entry(neutral=True)
    _inherit_categories(entries)
    typos_raw = config.get("typos") or {}
    typos = {str(k): str(v) for k, v in typos_raw.items() if k and v and k != v}
    _add_typo_variants(entries, typos)

    places = tuple(_str_list((config.get("places") or {}).get("words"), "places.words"))
    urgent = config.get("urgent", {})
    combos: list[Combo] = []
    all_things: set[str] = set()
    for n, spec in enumerate(urgent.get("combos") or []):
        where = f"urgent.combos[{n}]"
        things = _str_list(spec.get("things"), f"{where}.things")
        states = _str_list(spec.get("states"), f"{where}.states")
        window = int(spec.get("window", 8))
        category = spec.get("category")
        if category is not None and category not in labels:
            raise TaxonomyError(f"{where}.category {category!r} is not a category")
        if not things or not states:
            raise TaxonomyError(f"{where} needs things and states")
        t = "|".join(map(re.escape, sorted(things, key=len, reverse=True)))
        st = "|".join(map(re.escape, sorted(states, key=len, reverse=True)))
        pattern = re.compile(rf"(?:{t})[^，。！？,.!?；;]{{0,{window}}}?(?:{st})")
        combos.append(Combo(category, pattern))
        all_things.update(things)
    return Taxonomy(
        settings,
        labels,
        topic_labels,
        entries,
        acks,
        places,
        typos,
        hypothetical_before=tuple(
            _str_list(urgent.get("hypothetical_before"), "urgent.hypothetical_before")
        ),
        hypothetical_after=tuple(
            _str_list(urgent.get("hypothetical_after"), "urgent.hypothetical_after")
        ),
        combos=tuple(combos),
        combo_things=re.compile("|".join(map(re.escape, sorted(all_things, key=len, reverse=True))))
        if all_things
        else None,
        char_hints=_char_hints(config.get("char_hints") or {}, labels),
        unless={
            str(w): tuple(_str_list(ctx, f"urgent.unless.{w}"))
            for w, ctx in (urgent.get("unless") or {}).items()
        },
        notice_header=_notice_header(_str_list(none.get("header_words"), "none.header_words")),
    )


def _add_typo_variants(entries: dict[str, Entry], typos: Mapping[str, str]) -> None:
    """Precompute misspelt surfaces (电悌坏 for 电梯坏) so matching them costs nothing."""
    for surface in list(entries):
        for wrong, right in typos.items():
            if right in surface:
                variant = surface.replace(right, wrong)
                if variant not in entries:
                    e = entries[surface]
                    entries[variant] = Entry(
                        cats=dict(e.cats),
                        strong=e.strong,
                        problem=e.problem,
                        urgent=e.urgent,
                        topics=list(e.topics),
                        cues=set(e.cues),
                        canonical=surface,
                    )
    for wrong, right in typos.items():
        if wrong not in entries and right not in entries:
            continue
        if wrong not in entries:
            e = entries[right]
            entries[wrong] = Entry(
                cats=dict(e.cats),
                strong=e.strong,
                problem=e.problem,
                urgent=e.urgent,
                topics=list(e.topics),
                cues=set(e.cues),
                canonical=right,
            )


def _char_hints(raw: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, str]:
    """Character -> category from [char_hints]; a character listed twice keeps its first."""
    out: dict[str, str] = {}
    for code, chars in raw.items():
        if code not in labels:
            raise TaxonomyError(f"char_hints.{code} is not a category")
        if not isinstance(chars, str):
            raise TaxonomyError(f"char_hints.{code} must be a string of characters")
        for c in chars:
            out.setdefault(c, code)
    return out


def _notice_header(words: list[str]) -> re.Pattern[str] | None:
    """A bracketed header naming a notice (【停气通知】) or a leading 通知：/转发：."""
    if not words:
        return None
    alt = "|".join(map(re.escape, words))
    return re.compile(rf"【[^】]{{0,10}}(?:{alt})[^】]{{0,6}}】|^\s*(?:{alt})\s*[:：]")


def _inherit_categories(entries: dict[str, Entry]) -> None:
    """A longer cue word with no category (起火了) takes those of the words inside it (起火).

    Matching keeps only the weights of the longest word at a place, so without this an
    urgent or problem phrase would hide the category of the word it is built on.
    """
    for surface, e in entries.items():
        if e.cats or len(surface) < 3:
            continue
        for length in range(len(surface) - 1, 1, -1):
            for i in range(len(surface) - length + 1):
                inner = entries.get(surface[i : i + length])
                if inner is not None and inner.cats:
                    for code, w in inner.cats.items():
                        e.cats[code] = max(e.cats.get(code, 0.0), w)
                    e.strong = e.strong or inner.strong
            if e.cats:
                break
