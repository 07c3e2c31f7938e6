"""The classifier: one jieba pass (where it can matter) plus table lookups over the configured
taxonomy."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from math import log
from pathlib import Path
from typing import Any

import jieba

from nlp.location import LocationFinder
from nlp.normalise import clean
from nlp.taxonomy import (
    DEFAULT_TAXONOMY,
    DEFAULT_USERDICT,
    Entry,
    Taxonomy,
    build_taxonomy,
    load_taxonomy_file,
)
from nlp.understanding import Understanding

# jieba logs its dictionary loading at INFO/DEBUG on every start; nobody needs that in a bot log
jieba.setLogLevel(logging.WARNING)

_PUNCT = re.compile(r"[\s,.!?;:~…、，。！？；：～'\"“”‘’()（）\[\]【】<>《》\-—_=+*/\\|·]+")
_HAS_CJK = re.compile(r"[\u4e00-\u9fff]")
_TONE_MARKS = re.compile(r"[\u0300-\u036f]")


def _pinyin_table() -> dict[int, str]:
    """pypinyin's readings of single characters (code point -> "tī,tí"), from its data file.

    `import pypinyin` also loads its phrase dictionary and word segmenter (some 45 MB
    resident) that the fallback never uses; the table alone is pinyin_dict.json in the
    package (pypinyin is pinned), read here without running the package.
    """
    spec = importlib.util.find_spec("pypinyin")  # finds the package, does not import it
    assert spec is not None and spec.submodule_search_locations
    table = Path(spec.submodule_search_locations[0]) / "pinyin_dict.json"
    return {int(k): v for k, v in json.loads(table.read_text(encoding="utf-8")).items()}


_PINYIN_TABLE = _pinyin_table()
# memo of a pure function over at most the ~40k characters pypinyin knows (not a result cache)
_TONELESS: dict[str, str] = {}


def _toneless(char: str) -> str:
    """The first toneless reading of a Chinese character ("" for anything else): 梯 -> ti."""
    got = _TONELESS.get(char)
    if got is None:
        raw = _PINYIN_TABLE.get(ord(char), "")
        first = raw.split(",", 1)[0]
        got = _TONE_MARKS.sub("", unicodedata.normalize("NFD", first)) if first else ""
        _TONELESS[char] = got
    return got


_NEGATORS_1 = frozenset("不没未无别")
_NEGATORS_2 = frozenset({"没有", "并不", "从不", "不再", "不会", "不是", "不用", "无需"})
# question particles at the end of a message count even when no cue word matched
_QUESTION_END = ("?", "？", "吗", "呢", "么", "嘛", "没")
# the most word costs a classifier keeps for jieba's route (see Classifier._route)
MAX_KEPT_COSTS = 100_000
# how much problem evidence one message can pile up: keeps long rants from drowning the category
_PROBLEM_CAP = 4.0


class _Match:
    """One evidence word found in a message (a plain slotted class: made ~10x per message)."""

    __slots__ = ("end", "entry", "inner", "negated", "start", "surface")

    def __init__(
        self, start: int, end: int, surface: str, entry: Entry, negated: bool, inner: bool
    ) -> None:
        self.start = start
        self.end = end
        self.surface = surface
        self.entry = entry
        self.negated = negated
        self.inner = inner  # inside a longer match: its cues count, its weights do not


class Classifier:
    """Intent, category, urgency and place of group messages, driven by a taxonomy."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        userdict: Path | None = DEFAULT_USERDICT,
        *,
        load_now: bool = True,
    ) -> None:
        """load_now=False leaves jieba's dictionary (60 MB) unloaded until the first text
        (for a process that has its messages classified elsewhere)."""
        self.taxonomy = taxonomy
        self._settings = taxonomy.settings
        entries = taxonomy.entries
        # single characters are too ambiguous for substring matching: only whole jieba words
        self._single = {w: e for w, e in entries.items() if len(w) == 1}
        self._multi = {w: e for w, e in entries.items() if len(w) > 1}
        # where a taxonomy word can start, and its lengths from there, longest first
        lengths: dict[str, set[int]] = {}
        for w in self._multi:
            lengths.setdefault(w[0], set()).add(len(w))
        self._lengths = {c: tuple(sorted(ls, reverse=True)) for c, ls in lengths.items()}
        self._first = frozenset(self._lengths)
        # only words that say something is wrong (or fixed) can be cancelled by 不/没有
        self._negatable = {
            id(e)
            for e in entries.values()
            if e.strong or e.problem or e.urgent or "resolved" in e.cues
        }
        self._finder = LocationFinder(taxonomy.places)
        self._userdict = userdict
        self._jieba: jieba.Tokenizer | None = None
        # what each word costs on jieba's route (see _route), by word, as met
        self._costs: dict[str, float] = {}
        self._homophones = self._build_homophones()
        if load_now:
            self._load()  # the dictionary now, not on the first message

    def _load(self) -> jieba.Tokenizer:
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        if self._userdict is not None and Path(self._userdict).is_file():
            # jieba leaves a path it opened unclosed; hand it a file we close ourselves
            with open(self._userdict, "rb") as f:
                tokenizer.load_userdict(f)
        for w in self._multi:
            # an explicit frequency: jieba's suggest_freq would cut each word at load time
            tokenizer.add_word(w, freq=20000)
        self._jieba = tokenizer
        return tokenizer

    @property
    def _tokenizer(self) -> jieba.Tokenizer:
        return self._jieba if self._jieba is not None else self._load()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        userdict: Path | None = DEFAULT_USERDICT,
        *,
        load_now: bool = True,
    ) -> Classifier:
        """A classifier from a taxonomy dict (as read from TOML)."""
        return cls(build_taxonomy(config), userdict=userdict, load_now=load_now)

    @classmethod
    def from_file(
        cls,
        path: Path | str = DEFAULT_TAXONOMY,
        userdict: Path | None = DEFAULT_USERDICT,
        *,
        load_now: bool = True,
    ) -> Classifier:
        """A classifier from a taxonomy TOML file."""
        return cls.from_config(load_taxonomy_file(path), userdict=userdict, load_now=load_now)

    @property
    def categories(self) -> dict[str, str]:
        """Category codes with the labels people see, in taxonomy order."""
        return dict(self.taxonomy.labels)

    @property
    def topics(self) -> dict[str, str]:
        """Consultation topic codes with their labels."""
        return dict(self.taxonomy.topic_labels)

    def _build_homophones(self) -> dict[tuple[str, ...], str]:
        """Toneless pinyin of every evidence word, for the fallback on misspelt messages."""
        table: dict[tuple[str, ...], str] = {}
        for w, e in self._multi.items():
            if e.canonical or not (2 <= len(w) <= 4) or not (e.cats or e.problem or e.urgent):
                continue
            key = tuple(_toneless(c) for c in w)
            if all(key):
                table.setdefault(key, w)
        return table

    # ------------------------------------------------------------------ matching
    def _scan(self, text: str) -> list[_Match]:
        """All evidence words in text in order, longest first at each position.

        Every taxonomy word is in jieba's dictionary, so jieba's word graph (DAG) lists every
        place one occurs: the words of several characters are simply all of theirs in the
        text. What only jieba can say is which single characters are words on its best route
        (the route jieba.lcut(HMM=False) takes), and a single character counts only where it
        is one. A text without any of the taxonomy's single characters (half of the
        benchmark's messages) has its words looked up directly, by their first characters:
        the same matches in the same order, without the graph and the route (3.9 µs per such
        message instead of 14.5).
        """
        if self._single.keys().isdisjoint(text):
            return self._matches(text, self._looked_up(text))
        return self._matches(text, self._on_jiebas_route(text))

    def _looked_up(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every place a taxonomy word of several characters may occur, the
        longer first at each start: by their first characters, without jieba."""
        lengths = self._lengths
        n = len(text)
        return [
            (i, i + size)
            for i, ch in enumerate(text)
            for size in lengths.get(ch, ())
            if i + size <= n
        ]

    def _on_jiebas_route(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every word in jieba's graph that starts with a taxonomy word's
        first character, the longer first at each start, and of each single character that
        is a taxonomy word and a word on jieba's best route there (after those at its start)."""
        dag: dict[int, list[int]] = self._tokenizer.get_DAG(text)
        route = self._route(text, dag)
        single_at: set[int] = set()
        x, n = 0, len(text)
        while x < n:
            y = route[x][1] + 1
            if y == x + 1 and text[x] in self._single:
                single_at.add(x)
            x = y
        first = self._first
        candidates: list[tuple[int, int]] = []
        for i, ends in dag.items():
            if (len(ends) > 1 or ends[0] > i) and text[i] in first:
                candidates.extend((i, j + 1) for j in reversed(ends) if j > i)
            if i in single_at:
                candidates.append((i, i + 1))
        return candidates

    def _route(self, text: str, dag: dict[int, list[int]]) -> dict[int, tuple[float, int]]:
        """jieba's best route through the graph, as its ``Tokenizer.calc`` computes it, float
        for float: each word's cost (the log of its frequency, less the log of the total) is
        computed once, with the very same operations, and kept, instead of looked up in the
        dictionary of 500,000 entries and its logarithm taken again at every edge (calc took
        16 µs of the 21 that jieba's graph and route cost a benchmark message; 7 µs with the
        costs kept; a test compares the two)."""
        tk = self._tokenizer
        costs = self._costs
        if len(costs) > MAX_KEPT_COSTS:
            costs.clear()  # (a flood of new words: the words of chat are far fewer)
        freq = tk.FREQ
        n = len(text)
        route: dict[int, tuple[float, int]] = {n: (0, 0)}
        logtotal = log(tk.total)
        for idx in range(n - 1, -1, -1):
            best: tuple[float, int] | None = None
            for x in dag[idx]:
                w = text[idx : x + 1]
                cost = costs.get(w)
                if cost is None:
                    cost = costs[w] = log(freq.get(w) or 1) - logtotal
                step = (cost + route[x + 1][0], x)
                if best is None or step > best:  # (max() keeps the first of equals too)
                    best = step
            assert best is not None  # (jieba's graph has an edge at every position)
            route[idx] = best
        return route

    def _matches(self, text: str, candidates: list[tuple[int, int]]) -> list[_Match]:
        """The evidence words among the candidates (see _scan), in their order."""
        out: list[_Match] = []
        multi, single, negatable = self._multi, self._single, self._negatable
        max_end = -1
        neutral_end = -1
        for i, end in candidates:
            if end == i + 1:  # a single character, a word on jieba's route
                if end <= neutral_end:
                    continue
                w = text[i]
                e = single[w]
            else:
                w = text[i:end]
                found = multi.get(w)
                if found is None:
                    continue
                e = found
                if end <= neutral_end:
                    continue  # inside a neutral word (天天 in 今天天气)
                if e.neutral:
                    neutral_end = end
                    continue
            # inside a longer match (电梯 within 电梯坏): weights already counted
            neg = id(e) in negatable and self._negated(text, i)
            out.append(_Match(i, end, w, e, neg, end <= max_end))
            if end > max_end:
                max_end = end
        return out

    @staticmethod
    def _negated(text: str, start: int) -> bool:
        """Whether a negation just before a problem word cancels it (没有漏水, 不漏了)."""
        if start == 0:
            return False
        if text[start - 1] in _NEGATORS_1:
            return True
        if start >= 2 and text[start - 2 : start] in _NEGATORS_2:
            # 是不是有问题 / 会不会漏气 ask whether, they do not deny
            return not (start >= 3 and text[start - 3] == text[start - 1])
        return False

    def _fix_homophones(self, text: str) -> str | None:
        """Replace a homophone of a taxonomy word (电悌 for 电梯); None if nothing found."""
        pins = [_toneless(c) for c in text]
        table = self._homophones
        freq = self._tokenizer.FREQ
        fixed = list(text)
        changed = False
        n = len(text)
        i = 0
        while i < n - 1:
            if not pins[i]:
                i += 1
                continue
            for L in (4, 3, 2):
                if i + L > n:
                    continue
                word = table.get(tuple(pins[i : i + L]))
                if word is None:
                    continue
                window = text[i : i + L]
                same = sum(a == b for a, b in zip(word, window, strict=True))
                # one character must already be right (or the window is no word at all), or
                # any chat would match; a real word (可以) is no misspelling of 可疑
                # nor may it cut through a word of its neighbours (大家注意 has no 夹住)
                crosses = (i > 0 and freq.get(text[i - 1 : i + 1])) or (
                    i + L < n and freq.get(text[i + L - 1 : i + L + 1])
                )
                if (
                    word != window
                    and window not in freq
                    and not crosses
                    and (same >= L - 1 or L == 2)
                ):
                    fixed[i : i + L] = list(word)
                    changed = True
                    i += L - 1
                    break
            i += 1
        return "".join(fixed) if changed else None

    # ------------------------------------------------------------------ deciding
    def subject_words(self, keywords: Iterable[str]) -> set[str]:
        """The deciding words that name what is wrong (电梯, 楼道灯), not how (坏了, 好几天)."""
        out: set[str] = set()
        for w in keywords:
            e = self.taxonomy.entries.get(w)
            if e is None or (e.cats and (e.strong or not e.problem)):
                out.add(w)
        return out

    def classify(self, text: str) -> Understanding:
        """Understand one group message."""
        core = clean(text)
        bare = _PUNCT.sub("", core).lower()
        if not bare or bare in self.taxonomy.acks:
            return Understanding(intent="none", confidence=0.95, keywords=(bare,) if bare else ())
        matches = self._scan(core)
        result = self._decide(core, matches)
        # misspelt words (电题, 然气) only when the message is not already a clear complaint
        # (a none decided by a cue such as 收到/【通知】 is sure: confidence >= 0.8)
        if result.intent == "complaint":
            named = any(len(m.surface) > 1 and m.entry.cats and not m.negated for m in matches)
            unsure = result.borderline or result.confidence < 0.75 or not named
        else:
            unsure = result.confidence < 0.8
        if unsure and _HAS_CJK.search(core):
            fixed = self._fix_homophones(core)
            if fixed is not None:
                second = self._decide(fixed, self._scan(fixed))
                if (
                    second.intent == "complaint"
                    and not second.borderline
                    and (
                        result.intent != "complaint"
                        or result.borderline
                        or second.confidence > result.confidence
                    )
                ):
                    return second
        return result

    def _decide(self, text: str, matches: list[_Match]) -> Understanding:
        s = self._settings
        cat_score: dict[str, float] = {}
        first_pos: dict[str, int] = {}
        problem = 0.0
        strong_hit = False
        strong_cats: dict[str, bool] = {}
        urgent_words: list[str] = []
        topics: list[str] = []
        cues: dict[str, int] = {}
        seen: set[str] = set()
        resolved_at = -1
        problem_spans: list[tuple[int, int]] = []
        things: list[_Match] = []
        ask_evidence = 0.0  # what a question is about, from whole words only
        unless = self.taxonomy.unless
        first_strong: str | None = None
        for m in matches:
            e = m.entry
            if e.cues:
                for kind in e.cues:
                    if kind == "resolved":
                        if m.negated:
                            continue  # 不亮了 is not 亮了
                        resolved_at = max(resolved_at, m.start)
                    cues[kind] = cues.get(kind, 0) + 1
            if e.topics:
                for t in e.topics:
                    if t not in topics:
                        topics.append(t)
            if m.negated:
                continue
            if unless:
                ctx = unless.get(m.surface)
                if ctx is not None and any(c in text for c in ctx):
                    continue  # 暖气…漏气: the context says this word means something else here
            if e.urgent and not self._hypothetical(text, m):
                urgent_words.append(e.canonical or m.surface)
            if m.inner or m.surface in seen:
                continue  # a word said twice is not twice the evidence
            seen.add(m.surface)
            if e.cats:
                whole = len(m.surface) > 1
                for c, w in e.cats.items():
                    cat_score[c] = cat_score.get(c, 0.0) + w
                    if c not in first_pos:
                        first_pos[c] = m.start
                    if whole and w > ask_evidence:
                        ask_evidence = w
            if e.strong or e.problem:
                problem_spans.append((m.start, m.end))
                if e.strong:
                    strong_hit = True
                    for c in e.cats:
                        strong_cats[c] = True
                    if first_strong is None and len(e.cats) == 1:
                        first_strong = next(iter(e.cats))
            elif e.cats:
                things.append(m)
            problem += e.problem
        # a thing and a state close together (燃气…漏, 电梯…关人) are an emergency even when
        # neither word is one on its own
        gate = self.taxonomy.combo_things
        if gate is not None and gate.search(text):
            for combo in self.taxonomy.combos:
                hit = combo.pattern.search(text)
                if hit and not self._hypothetical_combo(text, hit.start(), hit.end()):
                    urgent_words.append(hit[0])
                    strong_hit = True
                    if combo.category:
                        cat_score[combo.category] = cat_score.get(combo.category, 0.0) + 3.0
                        first_pos.setdefault(combo.category, hit.start())
                        strong_cats[combo.category] = True
        # the thing named right before a problem word is what the problem is about (电梯又坏了)
        if things and problem_spans:
            bonus: dict[str, float] = {}
            for m in things:
                for ps, pe in problem_spans:
                    if 0 <= ps - m.end <= 6 or 0 <= m.start - pe <= 2:
                        for c in m.entry.cats:
                            bonus[c] = s.proximity_bonus
                        break
            for c, b in bonus.items():
                cat_score[c] += b
        relapse = resolved_at >= 0 and any(
            "relapse" in m.entry.cues and m.start > resolved_at for m in matches
        )

        best_cat = None
        best = 0.0
        if first_strong is not None and s.lead_bonus:
            # residents lead with what matters most: the first problem named weighs a bit more
            cat_score[first_strong] = cat_score.get(first_strong, 0.0) + s.lead_bonus
        if cat_score:
            ranked = sorted(cat_score, key=lambda c: (-cat_score[c], first_pos[c]))
            best_cat = ranked[0]
            # "nobody came to fix the lift" is about the lift: a secondary category (service)
            # yields to a concrete problem named with enough weight
            if best_cat in s.secondary and len(ranked) > 1:
                runner = ranked[1]
                if (
                    strong_cats.get(runner)
                    and cat_score[runner] >= s.secondary_ratio * cat_score[best_cat]
                ):
                    best_cat = runner
            best = cat_score[best_cat]
        evidence = best + min(problem, _PROBLEM_CAP)
        has_problem = strong_hit or problem >= 0.5
        urgent = bool(urgent_words)
        question = "question" in cues or text.rstrip().endswith(_QUESTION_END)
        report = "report" in cues
        notice = 2 * cues.get("notice", 0) + cues.get("notice_weak", 0)
        if self.taxonomy.notice_header is not None and self.taxonomy.notice_header.search(text):
            notice += 3  # 【停气通知】 / 通知： / 转发： heads a notice, not a resident's report
        ads = 2 * cues.get("ads", 0) + cues.get("ads_weak", 0)

        def none(conf: float, *kw: str) -> Understanding:
            return Understanding(
                intent="none",
                confidence=conf,
                keywords=kw,
                best_category=best_cat,
                topic=topics[0] if topics else None,
            )

        # a resident quoting a notice word while reporting (维修中？我家还是不热) is no notice
        quoting = notice < 4 and report and has_problem
        if notice >= 2 and not (urgent and notice < 3) and not quoting:
            return none(0.9, *self._cue_words(matches, ("notice", "notice_weak")))
        if not urgent and (ads >= 3 or (ads >= 2 and not strong_hit and problem < 2)):
            return none(0.85, *self._cue_words(matches, ("ads", "ads_weak")))
        if resolved_at >= 0 and not relapse and not urgent:
            return none(0.85, *self._cue_words(matches, ("resolved",)))

        if "advice" in cues and not urgent:
            # asking what to do about a problem (漏水了应该先关哪个阀门) is a consultation
            return Understanding(
                intent="consult",
                topic=topics[0] if topics else None,
                confidence=0.7,
                keywords=self._cue_words(matches, ("advice", "topic")),
                best_category=best_cat,
            )
        if topics and question:
            reported = report or problem >= 2 or urgent
            reported = reported or (strong_hit and evidence >= s.complaint_threshold + 1.5)
            if not (evidence >= s.complaint_threshold and reported):
                return Understanding(
                    intent="consult",
                    topic=topics[0],
                    confidence=0.8,
                    keywords=self._cue_words(matches, ("topic",)),
                    best_category=best_cat,
                )
            # otherwise a report phrased as a question: 电梯坏了找谁修？
        elif question and not has_problem and not urgent:
            if ask_evidence >= 1.0:
                return Understanding(
                    intent="consult",
                    topic=None,
                    confidence=0.55,
                    keywords=self._evidence_words(matches, best_cat),
                    best_category=best_cat,
                )
            return none(0.6)

        if "thanks" in cues and not urgent and not strong_hit and problem < 2:
            return none(0.8, *self._cue_words(matches, ("thanks",)))
        if urgent or (has_problem and evidence >= s.complaint_threshold):
            category = best_cat or self._hinted_category(text)
            if category is None:
                category = "safety" if urgent and "safety" in self.taxonomy.labels else None
            category = category or s.default_category
            margin = evidence - s.complaint_threshold
            share = best / sum(cat_score.values()) if cat_score else 0.5
            conf = min(0.99, 0.55 + 0.06 * margin + 0.2 * share)
            return Understanding(
                intent="complaint",
                category=category,
                urgent=urgent,
                location=self._finder.find(text),
                keywords=self._evidence_words(matches, category, urgent_words),
                confidence=conf,
                best_category=category,
            )
        if has_problem and evidence >= s.borderline_threshold:
            category = best_cat or self._hinted_category(text) or s.default_category
            return Understanding(
                intent="complaint",
                category=category,
                borderline=True,
                location=self._finder.find(text),
                keywords=self._evidence_words(matches, category),
                confidence=0.35 + 0.1 * (evidence - s.borderline_threshold),
                best_category=category,
            )
        return none(0.6 if matches else 0.7)

    def _hinted_category(self, text: str) -> str | None:
        """The category its characters lean to, for a problem no word placed (杆子歪了)."""
        hints = self.taxonomy.char_hints
        votes: dict[str, int] = {}
        for c in text:
            code = hints.get(c)
            if code is not None:
                votes[code] = votes.get(code, 0) + 1
        return max(votes, key=lambda k: votes[k]) if votes else None

    def _hypothetical(self, text: str, m: _Match) -> bool:
        """Whether an urgent word is only feared (万一着火, 着火就完了), not happening."""
        return self._hypothetical_span(text, m.start, m.end)

    def _hypothetical_combo(self, text: str, start: int, end: int) -> bool:
        """Like _hypothetical_span, also looking inside the span (电动车充电会着火)."""
        inner = text[start:end]
        return self._hypothetical_span(text, start, end) or any(
            h in inner for h in self.taxonomy.hypothetical_before
        )

    def _hypothetical_span(self, text: str, start: int, end: int) -> bool:
        """Whether text[start:end] is only feared, judged by the words just around it."""
        before = text[max(0, start - 4) : start]
        after = text[end : end + 5]
        for h in self.taxonomy.hypothetical_before:
            if before.endswith(h) if len(h) == 1 else h in before:
                return True
        return any(h in after for h in self.taxonomy.hypothetical_after)

    @staticmethod
    def _evidence_words(
        matches: list[_Match], category: str | None, extra: list[str] | None = None
    ) -> tuple[str, ...]:
        out: list[str] = []
        for m in matches:
            e = m.entry
            if m.negated or m.inner:
                continue
            if (category in e.cats) or e.problem or e.urgent:
                w = e.canonical or m.surface
                if w not in out:
                    out.append(w)
        for w in extra or ():
            if w not in out:
                out.append(w)
        return tuple(out)

    @staticmethod
    def _cue_words(matches: list[_Match], kinds: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for m in matches:
            hit = any(k in m.entry.cues for k in kinds) or ("topic" in kinds and m.entry.topics)
            if hit and m.surface not in out:
                out.append(m.surface)
        return tuple(out)


def matches_evidence(matches: list[_Match]) -> bool:
    """Whether any match is category, problem or none-cue evidence (so no homophone fix)."""
    for m in matches:
        e = m.entry
        if e.cats or e.problem or e.urgent or (e.cues - {"question"}):
            return True
    return False


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The classifier built from the default taxonomy (config/taxonomy.toml), built once."""
    return Classifier.from_file(DEFAULT_TAXONOMY)


def classify(text: str) -> Understanding:
    """Understand one group message with the default classifier."""
    return default_classifier().classify(text)
