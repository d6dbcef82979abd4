"""One edit request, its validation, and the helpers every source loader shares."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


class InvalidRequest(ValueError):
    """A record that cannot become an edit request; the message names file, record and reason."""

    def __init__(self, reason: str, source: str | None = None, index: int | None = None,
                 case_id: str | None = None):
        self.reason, self.source, self.index, self.case_id = reason, source, index, case_id
        where = f"{source or '<memory>'}, record {'?' if index is None else index}"
        super().__init__(f"{where} (case {case_id}): {reason}")

    def at(self, source: str, index: int, case_id: str) -> InvalidRequest:
        return InvalidRequest(self.reason, source, index, case_id)


def fill(template: str, subject: str) -> str:
    # str.replace, not str.format: prompts may contain other braces.
    return template.replace("{}", subject, 1)


@dataclass
class EditRequest:
    case_id: str
    prompt: str  # template with exactly one "{}" for the subject; ends right before the object
    subject: str
    target_new: str  # no leading space: the editing code joins prompt and target itself
    target_true: str | None = None
    relation: str | None = None
    paraphrase_prompts: list[str] = field(default_factory=list)
    neighborhood_prompts: list[str] = field(default_factory=list)  # other subjects, same relation
    neighborhood_targets: list[str] = field(default_factory=list)  # their true objects

    def __post_init__(self) -> None:
        # Sources differ in surrounding whitespace; normalise once here rather than per loader.
        self.case_id = str(self.case_id)
        self.prompt = (self.prompt or "").rstrip()
        self.subject = (self.subject or "").strip()
        self.target_new = (self.target_new or "").strip()
        self.target_true = (self.target_true or "").strip() or None

    def text(self) -> str:
        return fill(self.prompt, self.subject)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EditRequest:
        known = [f.name for f in fields(cls)]
        if unknown := sorted(set(d) - set(known)):
            raise InvalidRequest(f"unknown key(s) {', '.join(map(repr, unknown))}; a request has {', '.join(known)}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        if missing := [k for k in required if k not in d]:
            raise InvalidRequest(f"missing key(s) {', '.join(map(repr, missing))}")
        return cls(**d)


def validate(req: EditRequest) -> EditRequest:
    """Return ``req`` unchanged or raise InvalidRequest with the first problem found."""
    def fail(reason: str) -> InvalidRequest:
        return InvalidRequest(reason, case_id=req.case_id)

    if (n := req.prompt.count("{}")) != 1:
        raise fail(f"subject placeholder: prompt {req.prompt!r} must contain exactly one '{{}}', found {n}")
    if not req.subject:
        raise fail("subject is empty")
    if not req.target_new:
        raise fail("target_new is empty")
    if req.target_new == req.target_true:
        raise fail(f"target_new equals target_true ({req.target_new!r}): nothing to edit")
    if len(req.neighborhood_prompts) != len(req.neighborhood_targets):
        raise fail(f"{len(req.neighborhood_prompts)} neighborhood prompts but "
                   f"{len(req.neighborhood_targets)} targets")
    return req


def find_subject_span(text: str, subject: str) -> tuple[int, int] | None:
    """First whole-word occurrence of ``subject`` in ``text``: exact, then ignoring case, then
    letting any run of whitespace match any other. None when absent."""
    words = subject.split()
    if not words:
        return None
    # Word boundaries keep "Apple" from matching inside "Pineapple": a wrong span edits the wrong token.
    exact, spaced = re.escape(subject.strip()), r"\s+".join(map(re.escape, words))
    for pattern, flags in ((exact, 0), (exact, re.IGNORECASE), (spaced, re.IGNORECASE)):
        if m := re.search(rf"(?<!\w){pattern}(?!\w)", text, flags):
            return m.span()
    return None


def subject_template(text: str, subject: str | None) -> tuple[str, str]:
    """(template with "{}" at the subject, subject as the text writes it) for a filled-in prompt."""
    span = find_subject_span(text or "", subject or "")
    if span is None:
        raise InvalidRequest(f"subject {subject!r} not found in prompt {text!r}")
    start, end = span
    # Keep the prompt's own spelling of the subject so that text() reproduces the source prompt.
    return text[:start] + "{}" + text[end:], text[start:end]


def as_list(value: str | list[str] | None) -> list[str]:
    """Sources store one prompt as a string or several as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass
class RequestSet:
    """Requests built from one source, plus the records rejected on the way (case id, message)."""

    source: str
    requests: list[EditRequest] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    records_of: dict[str, list[int]] = field(default_factory=dict)  # case id -> record indexes

    def add(self, index: int, case_id: str, build: Callable[[], EditRequest]) -> bool:
        """Build and validate one request; record a bad record instead of stopping a long run."""
        self.records_of.setdefault(case_id, []).append(index)
        try:
            self.requests.append(validate(build()))
            return True
        except InvalidRequest as err:
            self.rejected.append((case_id, str(err.at(self.source, index, case_id))))
        except (KeyError, TypeError, AttributeError) as err:  # missing fields or wrong types
            self.rejected.append((case_id, str(InvalidRequest(
                f"malformed record: {type(err).__name__} {err}", self.source, index, case_id))))
        return False

    def __len__(self) -> int:
        return len(self.requests)

    def summary(self) -> str:
        return f"{self.source}: {len(self.requests)} loaded, {len(self.rejected)} rejected"

    def require_unique_ids(self) -> None:
        """Refuse a source whose records share a case id: results are keyed by it, so one of
        the two edits would silently replace the other in ``edits.jsonl`` and the summary."""
        shared = {cid: where for cid, where in self.records_of.items() if len(where) > 1}
        if shared:
            listed = "; ".join(f"{cid!r} (records {', '.join(map(str, where))})"
                               for cid, where in list(shared.items())[:10])
            more = f" and {len(shared) - 10} more" if len(shared) > 10 else ""
            raise ValueError(f"{self.source}: {len(shared)} case ids are used by more than one record: "
                             f"{listed}{more}; give each record its own case_id")


def read_json(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSON-array or JSON-lines file, each as written: no schema is imposed
    across records, so one record's extra or missing key stays that record's problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (set KE_DATA_ROOT or pass a path)")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"no records in {path} (the file is empty)")
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:  # JSON lines: the error names the line
            records = []
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    records.append(json.loads(line))
    except json.JSONDecodeError as err:
        where = f"line {number}: " if not text.lstrip().startswith("[") else ""
        raise ValueError(f"{path}: not valid JSON or JSON lines ({where}{err})") from err
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of records, found a JSON {type(records).__name__}")
    if not records:
        raise ValueError(f"no records in {path}")
    if bad := [i for i, r in enumerate(records) if not isinstance(r, dict)]:
        raise ValueError(f"{path}: records {bad[:5]} are not JSON objects")
    return records
