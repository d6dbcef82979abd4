"""Averages of traced facts over ROME's token groups, as in its average-indirect-effect figures."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .trace import TraceResult

GROUPS = ("first subject token", "middle subject tokens", "last subject token",
          "first subsequent token", "further tokens", "last token", "object [MASK]s")


def token_groups(result: TraceResult) -> dict[str, list[int]]:
    """Traced columns of each group. As in ROME a token may be in two groups (a one-token subject
    is first and last; a lone subsequent token is also the last token). "last token" is the last
    prompt token; "object [MASK]s" exist for MDMs only."""
    (s, e), last = result.subject_span, result.prompt_len - 1
    groups = [[s], list(range(s + 1, e - 1)), [e - 1], [e] if e <= last else [],
              list(range(e + 1, last)), [last], list(range(result.prompt_len, result.scores.shape[1]))]
    return dict(zip(GROUPS, groups))


def summarize(results: Sequence[dict[str, TraceResult]]) -> dict:
    """Average indirect effect by layer per group and kind over the facts the clean model gets
    right (each fact: kind -> TraceResult). Every token of a group counts once (ROME's add_all)."""
    kept = [r for r in results if next(iter(r.values())).correct]
    summary: dict = {"n_facts": len(results), "n_skipped": len(results) - len(kept), "effect": {}}
    if not kept:
        return summary
    kinds = list(kept[0])
    summary["clean_p"] = sum(r[kinds[0]].clean_p for r in kept) / len(kept)
    summary["corrupted_p"] = sum(r[kinds[0]].corrupted_p for r in kept) / len(kept)
    for kind in kinds:
        per_group = {}
        for group in GROUPS:
            columns = [r[kind].effect[:, c] for r in kept for c in token_groups(r[kind])[group]]
            if columns:
                per_group[group] = torch.stack(columns).mean(0).tolist()
        summary["effect"][kind] = per_group
    return summary


def peak(summary: dict, kind: str = "mlp") -> tuple[int, str, float]:
    """(layer, group, effect) of the largest average indirect effect of ``kind``."""
    return max(((layer, group, value) for group, values in summary["effect"][kind].items()
                for layer, value in enumerate(values)), key=lambda x: x[2])
