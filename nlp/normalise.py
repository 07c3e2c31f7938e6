"""Cleaning group text before it is understood: mentions, emoji, sticker codes, widths."""

from __future__ import annotations

import re
import unicodedata

# @name followed by the separator WeChat puts after a mention (U+2005) or a space
_MENTION = re.compile(r"@[^\s\u2005@]{1,24}(?:[\u2005\s]+|$)")
# WeChat sticker codes such as [捂脸] [强] [OK] and emoji ranges incl. joiners/variation selectors
_STICKER = re.compile(r"\[[\u4e00-\u9fffA-Za-z]{1,5}\]")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U0001fb00-\U0001fbff\u2600-\u27bf\u2b00-\u2bff"
    "\ufe0f\u200d\u20e3\u3030\u303d\u3297\u3299]+"
)
_SPACES = re.compile(r"\s+")

_CN_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}


def clean(text: str) -> str:
    """Strip mentions, stickers and emoji, fold full-width forms, squeeze spaces."""
    # NFKC folds full-width digits and Latin letters (５０２ -> 502, ＯＫ -> OK)
    text = unicodedata.normalize("NFKC", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "[" in text:
        text = _STICKER.sub(" ", text)
    text = _EMOJI.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def cn_to_int(numeral: str) -> int | None:
    """A Chinese or Arabic numeral as an int: 三->3, 十二->12, 二十->20, 五零二->502."""
    if numeral.isascii() and numeral.isdigit():  # not "²", which int() refuses
        return int(numeral)
    if not numeral or any(c not in _CN_DIGIT and c not in _CN_UNIT for c in numeral):
        return None
    if not any(c in _CN_UNIT for c in numeral):
        # digit by digit, as room numbers are read out: 五零二
        return int("".join(str(_CN_DIGIT[c]) for c in numeral))
    total, digit = 0, 0
    for c in numeral:
        if c in _CN_DIGIT:
            digit = _CN_DIGIT[c]
        else:
            total += (digit or 1) * _CN_UNIT[c]
            digit = 0
    return total + digit
