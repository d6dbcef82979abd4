"""How edit requests are cut into batches (edit groups optimised, and for MEMIT's joint mode inserted, together)."""
from __future__ import annotations

from src.editing.cases import EditCase


def subject_token(case: EditCase) -> int:
    """The token id at the edit site: the subject's last token of the edit prompt."""
    return case.prompt.ids[case.prompt.subject_last]


def edit_groups(cases: list[EditCase], size: int, distinct_subject_tokens: bool = False) -> list[list[EditCase]]:
    """``cases`` in order, ``size`` per group; with ``distinct_subject_tokens`` each case joins the
    first open group holding no case whose subject ends in the same token (a new group if none).

    Keys at the edit site are read at the subject's last token, so at shallow layers two subjects
    that end alike ("Trasgo Drapo", "Vundra Drapo") have nearly one key: MEMIT's joint update,
    one least-squares solve for the whole group, cannot send it to two values and gives both
    edits up (README, "Baselines and MEMIT on the ARMs"). Independent per-edit updates do not care.
    """
    if not distinct_subject_tokens:
        return [cases[i:i + size] for i in range(0, len(cases), size)]
    groups: list[list[EditCase]] = []
    seen: list[set[int]] = []
    for case in cases:
        token = subject_token(case)
        for group, tokens in zip(groups, seen):
            if len(group) < size and token not in tokens:
                break
        else:
            group, tokens = [], set()
            groups.append(group)
            seen.append(tokens)
        group.append(case)
        tokens.add(token)
    return groups
