"""KAMEL (Kalo and Fichtel, AKBC 2022): one folder of facts per Wikidata relation, read file by
file, and length-controlled requests from any world of (subject, relation, object) facts.

Two layouts, told apart per record:
- the hub's (``$KE_DATA_ROOT/kamel``): ``<root>/<Pxxx>/test.jsonl``, ``obj_label`` a list of
  accepted answers, each ``{"chosen", "rdf", "alternative"}``;
- GitHub's (JanKalo/KAMEL): ``<root>/<Pxxx>/{train,dev,test}.jsonl``, ``obj_label`` a list of
  answer strings.
Every record becomes a fact or a rejection with its reason: a fact needs one answer (a
multi-answer fact has no single true object to keep or replace) and a subject not seen earlier in
its file. Each file is parsed on its own, so relations whose records differ in schema (``rdf`` null
in every record of some) never meet in one reader, and a problem names its file and line.

Prompts: the declarative templates the project writes (``kamel_templates.json``, first one the
edit prompt), else the relation's question from ``question-templates.csv`` as a question-answer
prompt in two formats (edit prompt and paraphrase).
"""
from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..requests import EditRequest, InvalidRequest, RequestSet, fill

SPLITS = ("train", "dev", "test")
TEMPLATES_FILE = Path(__file__).with_name("kamel_templates.json")
QUESTIONS_FILE = "question-templates.csv"
# A question "What is the capital of [S]?" becomes these prompts, the answer right after them.
QUESTION_FORMATS = ("Question: {} Answer:", "Q: {} A:")


class FactLike(Protocol):
    subject: str
    relation: str
    object: str


class KamelFact(NamedTuple):
    subject: str
    relation: str
    object: str


@dataclass
class KamelRead:
    """The facts of some relation files and every record not taken, as (record id, message);
    the record id is ``<relation>/<file>:<line>``."""

    facts: list[KamelFact] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


# ------------------------------------------------------------------ reading
def answers_of(record: Any) -> list[str]:
    """The accepted answers of one record of either layout; InvalidRequest says why there are none."""
    if not isinstance(record, dict):
        raise InvalidRequest(f"not a JSON object ({type(record).__name__})")
    if not isinstance(record.get("sub_label"), str) or not record["sub_label"].strip():
        raise InvalidRequest("no sub_label (missing, empty or not a string)")
    labels = record.get("obj_label")
    if not isinstance(labels, list):
        raise InvalidRequest(f"no obj_label list ({type(labels).__name__})")
    if not labels:
        raise InvalidRequest("empty obj_label")
    answers = []
    for label in labels:
        if isinstance(label, dict):
            if "chosen" not in label:
                raise InvalidRequest(f"obj_label entry without a chosen label (keys {sorted(label)})")
            label = label["chosen"]
        if not isinstance(label, str):
            raise InvalidRequest(f"obj_label entry not a string ({type(label).__name__})")
        if not label.strip():
            raise InvalidRequest("empty answer in obj_label")
        answers.append(label.strip())
    return answers


def _records(path: Path) -> Iterable[tuple[int, Any]]:
    """(line, parsed record or the JSONDecodeError) of a JSON-lines file; a JSON array counts as
    one record per element, numbered from 1."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read as UTF-8 text ({err})") from err
    if text.lstrip().startswith("["):
        try:
            yield from enumerate(json.loads(text), 1)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a valid JSON array ({err})") from err
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as err:
                yield n, err


def read_relation(path: Path, relation: str) -> KamelRead:
    """Facts of one relation file; a repeated subject keeps its first fact."""
    out, seen = KamelRead(), {}
    for n, record in _records(path):
        case_id = f"{relation}/{path.name}:{n}"
        try:
            if isinstance(record, json.JSONDecodeError):
                raise InvalidRequest(f"invalid JSON ({record.msg})")
            answers = answers_of(record)
            if len(answers) > 1:
                raise InvalidRequest(f"multi-answer ({len(answers)} answers)")
            subject = record["sub_label"].strip()
            if subject in seen:
                raise InvalidRequest(f"repeated subject (first at line {seen[subject]})")
        except InvalidRequest as err:
            out.rejected.append((case_id, str(err.at(str(path), n, case_id))))
            continue
        seen[subject] = n
        out.facts.append(KamelFact(subject, relation, answers[0]))
    return out


def relation_file(root: str | Path, relation: str, split: str = "test") -> Path:
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: KAMEL's splits are {list(SPLITS)}")
    path = Path(root) / relation / f"{split}.jsonl"
    if not path.is_file():
        there = sorted(p.name for p in path.parent.glob("*.jsonl")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"KAMEL relation {relation!r}: no file {path}"
                                + (f" (the folder has {there})" if there else f" (is {root} a KAMEL folder?)"))
    return path


def list_relations(root: str | Path, split: str = "test") -> list[str]:
    """Every relation folder of ``root`` holding the split's file."""
    found = sorted(p.parent.name for p in Path(root).glob(f"*/{split}.jsonl"))
    if not found:
        raise FileNotFoundError(f"{root}: no <relation>/{split}.jsonl files (is it a KAMEL folder?)")
    return found


def read_kamel(root: str | Path, relations: Iterable[str] | None = None, split: str = "test") -> KamelRead:
    """Facts of the relations (default: every one in ``root``), each file read on its own."""
    out = KamelRead()
    for relation in (list_relations(root, split) if relations is None else list(relations)):
        one = read_relation(relation_file(root, relation, split), relation)
        out.facts += one.facts
        out.rejected += one.rejected
    return out


def read_kamel_facts(root: str | Path, relations: Iterable[str], split: str = "test") -> list[KamelFact]:
    return read_kamel(root, relations, split).facts


# ------------------------------------------------------------------ prompts
@cache
def declarative_templates() -> dict[str, list[str]]:
    """The project's declarative templates (``kamel_templates.json``): relation -> templates."""
    return json.loads(TEMPLATES_FILE.read_text())


def question_templates(root: str | Path) -> dict[str, list[str]]:
    """KAMEL's question of each relation (``[S]`` the subject) as question-answer prompts."""
    path = Path(root) / QUESTIONS_FILE
    if not path.is_file():
        return {}
    out = {}
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f, skipinitialspace=True), 1):
            if not row:
                continue
            # An unquoted comma inside the question splits it: join the pieces back.
            question = ", ".join(row[1:])
            if question.count("[S]") != 1:
                raise ValueError(f"{path}:{n}: expected 'relation, question with one [S]', got {row}")
            question = question.replace("[S]", "{}")
            out.setdefault(row[0].strip(), [form.format(question) for form in QUESTION_FORMATS])
    return out


def kamel_templates(root: str | Path, relations: Iterable[str]) -> dict[str, list[str]]:
    """Prompts of each relation: declarative where written, else its question."""
    relations = list(relations)
    declarative = declarative_templates()
    questions = question_templates(root) if any(r not in declarative for r in relations) else {}
    missing = [r for r in relations if r not in declarative and r not in questions]
    if missing:
        raise ValueError(f"KAMEL relations {missing}: no template in {TEMPLATES_FILE} and no question "
                         f"in {Path(root) / QUESTIONS_FILE}; pass templates for them")
    return {r: declarative.get(r) or questions[r] for r in relations}


# ------------------------------------------------------------------ requests
def length_controlled_requests(
    facts: Iterable[FactLike], templates: Mapping[str, Sequence[str]],
    encode: Callable[[str], Sequence[int]], *, target_lengths: Iterable[int] | None = None,
    per_length: int | None = None, n_neighbors: int = 5, seed: int = 0, source: str = "facts",
) -> RequestSet:
    """One request per fact of a relation in ``templates`` (the first template is the edit
    prompt, the rest are paraphrases). N = len(encode(" " + object)). Facts with no other
    same-length object are rejected; ``target_lengths`` and ``per_length`` select, not reject."""
    for rel, ts in templates.items():
        if len(ts) < 2 or any(t.count("{}") != 1 for t in ts):
            raise ValueError(f"relation {rel}: needs >= 2 templates, each with one '{{}}': {ts}")
    facts = [f for f in facts if f.relation in templates]
    n_tokens = {o: len(encode(" " + o)) for o in {f.object for f in facts}}
    pool: dict[tuple[str, int], set[str]] = defaultdict(set)
    by_relation: dict[str, list[FactLike]] = defaultdict(list)
    for f in facts:
        pool[f.relation, n_tokens[f.object]].add(f.object)
        by_relation[f.relation].append(f)

    def build(f: FactLike, case_id: str) -> EditRequest:
        n = n_tokens[f.object]
        alternatives = sorted(pool[f.relation, n] - {f.object})
        if not alternatives:
            raise InvalidRequest(f"no other object of {f.relation} with {n} tokens")
        # Seeded per fact, so a fact's new object does not change with the filters or the order.
        rng = random.Random(f"{seed}|{f.relation}|{f.subject}|{f.object}")
        new = rng.choice(alternatives)
        others = [g for g in by_relation[f.relation] if g.subject != f.subject and g.object != new]
        neighbours = rng.sample(others, min(n_neighbors, len(others)))
        edit, *held_out = templates[f.relation]
        return EditRequest(
            case_id, edit, f.subject, new, f.object, f.relation,
            paraphrase_prompts=[fill(t, f.subject) for t in held_out],
            neighborhood_prompts=[fill(edit, g.subject) for g in neighbours],
            neighborhood_targets=[g.object for g in neighbours])

    wanted = set(target_lengths) if target_lengths is not None else None
    taken: Counter[int] = Counter()
    out = RequestSet(source)
    # Shuffled so that a per-length cap samples all relations, not the first ones listed.
    for i in random.Random(seed).sample(range(len(facts)), len(facts)):
        f, n = facts[i], n_tokens[facts[i].object]
        if (wanted is None or n in wanted) and (per_length is None or taken[n] < per_length):
            taken[n] += out.add(i, f"{f.relation}/{i}", lambda: build(f, f"{f.relation}/{i}"))
    return out


def load_kamel(path: str | Path, *, encode: Callable[[str], Sequence[int]],
               relations: Sequence[str] | None = None, split: str = "test",
               templates: Mapping[str, Sequence[str]] | None = None, **kw) -> RequestSet:
    """Length-controlled requests over KAMEL relations (default: every relation of ``path``, or
    those ``templates`` names); ``templates`` replaces the default prompts of the relations it
    names. The records rejected while reading come first in ``rejected``."""
    given = dict(templates or {})
    names = list(relations) if relations is not None else list(given) or list_relations(path, split)
    prompts = {**kamel_templates(path, [r for r in names if r not in given]),
               **{r: given[r] for r in names if r in given}}
    read = read_kamel(path, names, split)
    out = length_controlled_requests(read.facts, prompts, encode, source=f"{path} ({split})", **kw)
    out.rejected[:0] = read.rejected
    return out
