"""One edit request, its validation, and the helpers every source loader shares."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
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

    def add(self, index: int, case_id: str, build: Callable[[], EditRequest]) -> bool:
        """Build and validate one request; record a bad record instead of stopping a long run."""
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


def read_json_splits(files: Mapping[str, str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Records of JSON-array or JSON-lines files, read through ``datasets`` in one call
    (one split per name; one builder is far faster than one per file for KAMEL's 214 files)."""
    import datasets

    for path in files.values():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file (set KE_DATA_ROOT or pass a path)")
    try:
        splits = datasets.load_dataset("json", data_files={k: str(p) for k, p in files.items()})
    except datasets.exceptions.DatasetGenerationError as err:
        names = ", ".join(map(str, files.values()))
        raise ValueError(f"{names}: not valid JSON records ({err.__cause__ or err})") from err
    return {name: splits[name].to_list() for name in files}


def read_json(path: str | Path) -> list[dict[str, Any]]:
    return read_json_splits({"records": path})["records"]
