"""Keep the edit requests a model knows: its own decoder, given the edit prompt, writes the true
object (exact match at the object's length). An edit of a fact the model never knew measures
little: ROME's CounterFact study kept records GPT-2 XL knew in the same sense."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Hashable, Sequence

from src.data.requests import EditRequest
from src.evaluation.exact_match import exact_match, row_seed
from src.factworld.tokens import encode_prompt, encode_target
from src.models.base import ModelAdapter

UNKNOWN = "the model does not know the true object (its greedy answer differs)"


def split_known(adapter: ModelAdapter, tokenizer, requests: Sequence[EditRequest], wanted: int | None = None,
                decoder: dict | None = None, batch_size: int = 32,
                group: Callable[[EditRequest], Hashable] | None = None,
                groups: Collection[Hashable] | None = None) -> tuple[list[EditRequest], list[tuple[str, str]]]:
    """(requests whose true object the model writes, [(case_id, reason)] for the others seen).

    Requests are checked in order, a chunk at a time, until ``wanted`` are known (None: all), so
    a run of 100 edits does not decode all 10,000 CounterFact records first. With ``group`` (e.g.
    the target length) ``wanted`` counts per group, and the check stops once each of ``groups`` has
    its ``wanted``: a model that knows few long objects still gets its quota of short ones."""
    if group is not None and (wanted is None or not groups):
        raise ValueError("split_known: a group needs wanted and the groups to fill")
    key = group or (lambda r: None)
    quota = {g: wanted for g in (groups if group is not None else [None])} if wanted is not None else None
    known: list[EditRequest] = []
    taken: Counter = Counter()
    rejected: list[tuple[str, str]] = []
    chunk = max(batch_size, 2 * sum(quota.values()) if quota else len(requests))
    for start in range(0, len(requests), chunk):
        part = list(requests[start:start + chunk])
        rejected += [(r.case_id, "no true object to check") for r in part if not r.target_true]
        part = [r for r in part if r.target_true]
        # Seeded per request: a sampler that draws (Dream's) keeps the same requests however they are chunked.
        hits, _ = exact_match(adapter, [encode_prompt(tokenizer, r.text()) for r in part],
                              [encode_target(tokenizer, r.target_true) for r in part], decoder or {}, batch_size,
                              row_seeds=[row_seed(0, r.case_id, "known") for r in part])
        for r, hit in zip(part, hits):
            if not hit:
                rejected.append((r.case_id, UNKNOWN))
                continue
            g = key(r)
            if quota is None or taken[g] < quota.get(g, 0):
                known.append(r)
                taken[g] += 1
        if quota is not None and all(taken[g] >= n for g, n in quota.items()):
            break
    return known, rejected
