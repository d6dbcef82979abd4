"""Where an edit acts: its weight update limited to some token positions.

A located edit is meant to act at the subject's last token. The rank-one update of ROME and
MEMIT (and FT-L's or LoRA's change) acts on every position whose input it responds to, so the
question has an empirical answer: score the edit prompt with each edit's update applied at all
positions, at the subject's last token only, and everywhere except there.

The score is teacher-forced (ARM: every target token is the argmax given the gold ones before
it, the same as greedy exact match; MDM: every masked target position's argmax in the fully
masked state, one-step decoding), so one forward pass per restriction scores a whole group.
"""
from __future__ import annotations

import torch

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, patched
from src.models.base import ModelAdapter
from src.models.padding import left_pad

SITES = ("all", "subject_only", "except_subject")


@torch.no_grad()
def edit_sites(adapter: ModelAdapter, cases: list[EditCase], patches: list[RowPatch]) -> list[dict[str, float]]:
    """Per edit, {site: 1.0 if every target token is predicted with the update at ``site``}."""
    rows, targets = [], []
    for case in cases:
        ids, positions = adapter.target_inputs(case.prompt.ids, case.target_ids)
        rows.append(ids)
        targets.append(positions)
    ids, mask = left_pad(rows, adapter.pad_token_id)
    pad = torch.tensor([ids.shape[1] - len(r) for r in rows])
    subject = (pad + torch.tensor([c.prompt.subject_last for c in cases]))[:, None]
    at_subject = torch.arange(ids.shape[1])[None] == subject
    restrict = {"all": None, "subject_only": at_subject, "except_subject": ~at_subject}
    owner = torch.arange(len(cases))
    scores: list[dict[str, float]] = [{} for _ in cases]
    for site in SITES:
        with patched(patches, owner, restrict[site]):
            predicted = adapter.token_logits(ids, mask).argmax(-1)
        for e, (case, positions) in enumerate(zip(cases, targets)):
            hit = predicted[e, torch.tensor(positions) + pad[e]].tolist() == case.target_ids
            scores[e][site] = float(hit)
    return scores
