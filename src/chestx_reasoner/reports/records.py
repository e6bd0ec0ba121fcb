"""Records the labeler produces: plain dataclasses that serialise to the JSON contracts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["present", "absent", "uncertain"]
STATUSES: tuple[Status, ...] = ("present", "absent", "uncertain")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: side, zone and lobe, each optional."""

    side: str | None = None  # left | right | bilateral
    zone: str | None = None  # upper | middle | lower | base | apex | perihilar | retrocardiac | ...
    lobe: str | None = None  # right upper lobe | right middle lobe | ... | lingula

    @property
    def text(self) -> str:
        """One readable phrase, e.g. "left lower lobe" or "bilateral base".

        >>> Location(side="left", zone="base").text
        'left base'
        """
        if self.lobe:
            return self.lobe if self.zone in (None, "upper", "middle", "lower") else (
                f"{self.lobe} {self.zone}")
        return " ".join(part for part in (self.side, self.zone) if part)

    def is_empty(self) -> bool:
        return not (self.side or self.zone or self.lobe)

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "zone": self.zone, "lobe": self.lobe, "text": self.text}


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sentence a finding was read from, and the mention's character span in the report."""

    sentence: str
    start: int  # character offsets of the mention in the full report text
    end: int


@dataclass(frozen=True, slots=True)
class Finding:
    """One mention of a finding in a report, with its status and where it was read."""

    name: str  # the vocabulary's finding name, e.g. "nodule", "pleural effusion"
    observation: str | None  # the CheXpert observation it rolls up into (None: outside the 14)
    status: Status
    mention: str  # the words in the report
    location: Location | None
    evidence: Evidence
    section: str  # findings | impression | ... | body (no header)
    change: str | None = None  # new | increased | decreased | unchanged | resolved
    chexpert_label: str | None = None  # the CheXpert column it counts toward (None: not counted)
    cues: tuple[str, ...] = field(default_factory=tuple)  # context cues that set the status
    concept: str | None = None  # the vocabulary entry whose phrase matched (e.g. "heart size")

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["location"] = self.location.to_dict() if self.location else None
        record["cues"] = list(self.cues)
        return record

    def key_finding(self) -> dict[str, Any]:
        """The `key_findings` form of docs/design.md: finding, status, location."""
        return {
            "finding": self.name,
            "status": self.status,
            "location": self.location.text if self.location else None,
        }


@dataclass(slots=True)
class LabeledReport:
    """All findings of one report and its study-level CheXpert labels."""

    findings: list[Finding]
    labels: dict[str, int | None]

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "labels": dict(self.labels)}

    def status_of(self, name: str) -> Status | None:
        """Study-level status of a finding name or observation (present > uncertain > absent)."""
        statuses = {f.status for f in self.findings if name in (f.name, f.observation)}
        for status in ("present", "uncertain", "absent"):
            if status in statuses:
                return status  # type: ignore[return-value]
        return None
