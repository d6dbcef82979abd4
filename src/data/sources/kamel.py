"""Length-controlled requests from any world of (subject, relation, object) facts: KAMEL's or
the project's fictional one. The new object of a fact is another object of the same relation
with the same token length N, so efficacy can be grouped by N."""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from ..requests import EditRequest, InvalidRequest, RequestSet, fill, read_json_splits


class FactLike(Protocol):
    subject: str
    relation: str
    object: str


class KamelFact(NamedTuple):
    subject: str
    relation: str
    object: str


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


def read_kamel_facts(root: str | Path, relations: Iterable[str]) -> list[KamelFact]:
    """Single-answer facts of ``<root>/<relation>/test.jsonl`` (multi-answer facts have no one
    true object to keep or replace)."""
    files = {rel: Path(root) / rel / "test.jsonl" for rel in sorted(relations)}
    return [KamelFact(rec["sub_label"], rel, rec["obj_label"][0]["chosen"])
            for rel, records in read_json_splits(files).items()
            for rec in records if len(rec["obj_label"]) == 1]


def load_kamel(path: str | Path, *, templates: Mapping[str, Sequence[str]],
               encode: Callable[[str], Sequence[int]], **kw) -> RequestSet:
    """Length-controlled requests for the KAMEL relations that have declarative templates."""
    return length_controlled_requests(read_kamel_facts(path, templates), templates, encode,
                                      source=str(path), **kw)
