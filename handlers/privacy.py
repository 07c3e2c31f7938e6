"""Masking what must not be posted into a group: phone numbers and room numbers."""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)(\d{3,4})(\d{4})(?!\d)")
# a room number after a unit or floor ("2单元502", "5楼502室") or followed by 室/户
_ROOM_AFTER = re.compile(r"((?:单元|楼|层|栋|-)\s*)(\d)(\d{2,3})(?=\s*(?:室|户|号)?(?!\d))")
_ROOM_SUFFIX = re.compile(r"(?<![\d号])(\d)(\d{2,3})(\s*(?:室|户|房|业主|住户|家))")
# a door number after words that say where someone lives ("我家502", "住在1201", "到502")
_ROOM_BEFORE = re.compile(
    r"((?:我家|他家|她家|住在|家住|住|到|去|找)\s*)(\d)(\d{2,3})(?!\d|号楼|栋|元|块|分|点|个|年|月|日|天|米|斤|人)"
)


def mask_phones(text: str) -> str:
    """138****5678: a phone number never appears whole in a group or a log."""
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_rooms(text: str) -> str:
    """2单元5xx: the floor stays, the door number goes."""
    text = _ROOM_AFTER.sub(lambda m: f"{m.group(1)}{m.group(2)}{'x' * len(m.group(3))}", text)
    text = _ROOM_SUFFIX.sub(lambda m: f"{m.group(1)}{'x' * len(m.group(2))}{m.group(3)}", text)
    return _ROOM_BEFORE.sub(lambda m: f"{m.group(1)}{m.group(2)}{'x' * len(m.group(3))}", text)


def mask_for_group(text: str) -> str:
    """Everything a group post must not show."""
    return mask_rooms(mask_phones(text))
