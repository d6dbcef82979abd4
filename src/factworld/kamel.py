"""A ``World`` of real facts from a local KAMEL copy (``<root>/<Pxxx>/test.jsonl``).

KAMEL gives questions only; the declarative templates below are written by hand. Only
single-answer facts are kept, and the answer's ``chosen`` label is the object.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import datasets

from .world import Fact, Relation, World

# Relations whose objects vary in length (one-word places to five-word universities),
# with templates that put the subject at the start and in the middle.
KAMEL_RELATIONS: dict[str, list[str]] = {
    "P19": ["{} was born in", "The birthplace of {} is", "{} is a native of", "The place of birth of {} is"],
    "P20": ["{} died in", "The place of death of {} is", "{} passed away in", "The city where {} died is"],
    "P27": ["{} is a citizen of", "The country of citizenship of {} is", "{} holds citizenship of",
            "By nationality, {} is a citizen of"],
    "P69": ["{} was educated at", "The alma mater of {} is", "{} studied at", "The school attended by {} is"],
    "P108": ["{} works for", "The employer of {} is", "{} is employed by", "The organisation that employs {} is"],
    "P264": ["{} is signed to", "The record label of {} is", "{} releases music on", "The label that signed {} is"],
}


def data_root() -> Path:
    """Root of the shared data sets: ``$KE_DATA_ROOT``, else ``shared/data`` beside the repository."""
    return Path(os.environ.get("KE_DATA_ROOT", Path(__file__).resolve().parents[3] / "shared" / "data"))


def _check(record: object) -> str | None:
    """Why ``record`` is not a KAMEL fact, or None when it is one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("sub_label"), str) or not record["sub_label"].strip():
        return "sub_label missing or not a non-empty string"
    labels = record.get("obj_label")
    if not isinstance(labels, list) or not labels:
        return "obj_label missing or not a non-empty list"
    if not all(isinstance(label, dict) and isinstance(label.get("chosen"), str) and label["chosen"].strip()
               for label in labels):
        return "an obj_label entry lacks a non-empty 'chosen' string"
    return None


def _malformed(path: Path, line: int, why: str) -> ValueError:
    return ValueError(f"{path}:{line}: malformed KAMEL record: {why}")


def read_relation(path: Path) -> list[tuple[str, list[str]]]:
    """(subject, chosen answers) of every record in one ``test.jsonl``."""
    lines = path.read_text().splitlines()
    # Record i of the dataset is the i-th non-blank line of the file.
    line_numbers = [n for n, text in enumerate(lines, 1) if text.strip()]
    try:
        rows = datasets.load_dataset("json", data_files=str(path), split="train").to_list()
    except Exception as error:
        # The json builder names neither file nor line: find the offending line ourselves.
        for n in line_numbers:
            try:
                why = _check(json.loads(lines[n - 1]))
            except json.JSONDecodeError as decode_error:
                why = f"invalid JSON ({decode_error.msg})"
            if why:
                raise _malformed(path, n, why) from error
        raise
    out = []
    for n, row in zip(line_numbers, rows):
        if why := _check(row):
            raise _malformed(path, n, why)
        out.append((row["sub_label"].strip(), [label["chosen"].strip() for label in row["obj_label"]]))
    return out


def kamel_world(root: str | Path | None = None, relations: dict[str, list[str]] | None = None,
                max_facts_per_relation: int | None = None) -> World:
    """Build a world from the KAMEL folder ``root`` (default ``data_root() / "kamel"``).

    ``relations`` maps a relation id (its folder name, e.g. "P19") to its templates (default
    ``KAMEL_RELATIONS``); ``max_facts_per_relation`` keeps the first single-answer facts of each.
    """
    root = Path(root) if root is not None else data_root() / "kamel"
    relations = relations if relations is not None else KAMEL_RELATIONS
    facts: list[Fact] = []
    world_relations: list[Relation] = []
    for name, templates in relations.items():
        path = root / name / "test.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"KAMEL relation {name!r}: no file {path} (is {root} a KAMEL folder?)")
        kept: dict[str, str] = {}
        for subject, answers in read_relation(path):
            # Multi-answer facts have no single object to recall; a repeated subject keeps its first.
            if len(answers) == 1 and subject not in kept:
                kept[subject] = answers[0]
            if max_facts_per_relation is not None and len(kept) == max_facts_per_relation:
                break
        facts += [Fact(s, name, o) for s, o in kept.items()]
        world_relations.append(Relation(name, list(templates), sorted(set(kept.values()))))
    subjects = list(dict.fromkeys(fact.subject for fact in facts))
    return World(world_relations, subjects, facts, seed=0,
                 meta={"source": "kamel", "root": str(root), "max_facts_per_relation": max_facts_per_relation})
