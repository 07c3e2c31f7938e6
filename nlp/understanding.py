"""What the classifier understood of one group message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Intent = Literal["complaint", "consult", "none"]


@dataclass(frozen=True, slots=True)
class Location:
    """A place named in a message, numbers normalised to Arabic digits."""

    building: str | None = None  # "3号楼"
    unit: str | None = None  # "2单元"
    floor: str | None = None  # "5楼"
    room: str | None = None  # "502"
    place: str | None = None  # "东门", "地下车库"

    @property
    def text(self) -> str:
        """The place as people write it: 3号楼2单元502, or 地下车库."""
        parts = [p for p in (self.building, self.unit, self.floor, self.room) if p]
        if self.room and self.floor:
            parts.remove(self.floor)  # 502 already says the floor
        core = "".join(parts)
        if self.place:
            return f"{core}{self.place}" if core else self.place
        return core

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the normalised text."""
        return {**asdict(self), "text": self.text}

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled by its fields in order: one call to build it again (the classifier process
        # sends one per message; the dataclass default sets slot by slot, five times slower)
        return (Location, (self.building, self.unit, self.floor, self.room, self.place))


@dataclass(frozen=True, slots=True)
class Understanding:
    """Intent, category, urgency and place of a message, with the words that decided it."""

    intent: Intent
    category: str | None = None
    urgent: bool = False
    location: Location | None = None
    keywords: tuple[str, ...] = ()
    confidence: float = 0.0
    # a complaint the classifier is unsure of: kept as a possible complaint, not ticketed
    borderline: bool = False
    # for consult: what is asked about ("reception_day", "five_listen", "contact", "fees", ...)
    topic: str | None = None
    # the best category even when intent is not complaint (used for explicit intake)
    best_category: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # as Location.__reduce__: the classifier process sends one per message
        return (
            Understanding,
            (
                self.intent,
                self.category,
                self.urgent,
                self.location,
                self.keywords,
                self.confidence,
                self.borderline,
                self.topic,
                self.best_category,
            ),
        )

    def as_complaint(self, default_category: str = "service") -> Understanding:
        """The same understanding forced to a complaint (explicit intake always wins)."""
        if self.intent == "complaint" and not self.borderline:
            return self
        return replace(
            self,
            intent="complaint",
            category=self.category or self.best_category or default_category,
            borderline=False,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: intent, category, urgent, location, keywords, confidence."""
        return {
            "intent": self.intent,
            "category": self.category,
            "urgent": self.urgent,
            "location": self.location.to_dict() if self.location else None,
            "keywords": list(self.keywords),
            "confidence": round(self.confidence, 3),
            "borderline": self.borderline,
            "topic": self.topic,
        }


@dataclass(slots=True)
class _Scratch:
    words: list[str] = field(default_factory=list)
