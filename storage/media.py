"""Photos on disk: one file per content (sha256), type by magic bytes, size limited."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import Attachment
from storage.plain import Plain

MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}
EXT = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp"}
FILE_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|gif|webp)$")


class MediaRejected(Exception):
    """The file is not a photo we keep (too big, or not JPEG/PNG/GIF/WebP)."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A photo kept under the media folder."""

    sha256: str
    file_name: str  # <sha256>.<ext>
    mime: str
    size: int


def image_type(head: bytes) -> str | None:
    """jpeg | png | gif | webp by the file's first bytes, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check(data: bytes, max_bytes: int, types: Sequence[str]) -> str:
    """The photo's type, or MediaRejected saying why it is not kept."""
    if len(data) > max_bytes:
        raise MediaRejected(f"too large ({len(data)} bytes > {max_bytes})")
    kind = image_type(data[:16])
    if kind is None or kind not in types:
        raise MediaRejected(
            "not a JPEG/PNG/GIF/WebP image" if kind is None else f"{kind} not allowed"
        )
    return kind


def media_name(data: bytes, kind: str) -> str:
    """<sha256>.<ext>: the name a photo is kept under."""
    return f"{hashlib.sha256(data).hexdigest()}.{EXT[kind]}"


def store(src: Path, media_dir: Path, max_bytes: int, types: Sequence[str]) -> StoredMedia:
    """Keep a downloaded photo under media_dir by content hash (the same photo once)."""
    size = src.stat().st_size
    if size > max_bytes:
        raise MediaRejected(f"too large ({size} bytes > {max_bytes})")
    data = src.read_bytes()
    kind = check(data, max_bytes, types)
    name = media_name(data, kind)
    media_dir.mkdir(parents=True, exist_ok=True)
    dest = media_dir / name
    if not dest.exists():
        fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".incoming-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    return StoredMedia(name.split(".")[0], name, MIME[kind], len(data))


def media_path(media_dir: Path, file_name: str) -> Path | None:
    """The file behind /media/<name>, only for names this module makes."""
    if not FILE_NAME.match(file_name):
        return None
    p = media_dir / file_name
    return p if p.is_file() else None


def attachments_of(session: Session, ticket_id: int) -> list[Attachment]:
    """A ticket's photos, oldest first."""
    return list(
        session.exec(
            select(Attachment)
            .where(Attachment.ticket_id == ticket_id)
            .order_by(col(Attachment.time), col(Attachment.id))
        )
    )


_UNATTACHED = Plain(
    select(col(Attachment.id))
    .where(
        col(Attachment.person_id) == bindparam("person_id"),
        col(Attachment.room_id) == bindparam("room_id"),
        col(Attachment.ticket_id).is_(None),
        col(Attachment.time) >= bindparam("since"),
    )
    .order_by(col(Attachment.id))
)


def unattached_photos(
    session: Session, person_id: str, room_id: str, since: datetime
) -> list[Attachment]:
    """The photos a person posted in a group since a moment that no ticket has yet.

    Every new complaint asks, and almost always there are none: the ids come from one plain
    statement, and only photos found are loaded as objects.
    """
    ids = _UNATTACHED.rows(session, {"person_id": person_id, "room_id": room_id, "since": since})
    return [a for (i,) in ids if (a := session.get(Attachment, i)) is not None]
