"""ROME's ``known_1000.json``: facts GPT-2 XL knew, its causal-tracing set.

Each record holds ``subject``, ``attribute`` (the true object), ``template`` (with "{}"),
``prompt`` (the template filled, ending right before the object), ``relation_id`` and
``known_id``. Default file: ``<data root>/rome/known_1000.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

DEFAULT_PATH = "rome/known_1000.json"


class KnownFact(NamedTuple):
    known_id: int
    subject: str
    relation: str
    object: str
    prompt: str
    """The prompt as ROME traced it: subject inside, object left out."""

    @property
    def subject_start(self) -> int:
        """Character offset of the subject in ``prompt`` (ROME's records always contain it)."""
        return self.prompt.index(self.subject)


def load_known(path: str | Path | None = None) -> list[KnownFact]:
    """Every record of a known_1000 file (default under $KE_DATA_ROOT); a record whose prompt
    does not contain its subject is refused with its id, since tracing corrupts that span."""
    from . import data_root

    path = Path(path) if path is not None else data_root() / DEFAULT_PATH
    if not path.is_file():
        raise FileNotFoundError(f"known_1000: {path} not found (set KE_DATA_ROOT or the facts_path option)")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    facts = []
    for i, rec in enumerate(records):
        fact = KnownFact(int(rec.get("known_id", i)), rec["subject"], rec.get("relation_id") or "",
                         rec["attribute"].strip(), rec["prompt"].rstrip())
        if fact.subject not in fact.prompt:
            raise ValueError(f"{path}, known_id {fact.known_id}: subject {fact.subject!r} not in prompt {fact.prompt!r}")
        facts.append(fact)
    return facts
