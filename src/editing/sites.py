"""Where an edit acts: its weight update limited to some token positions.

A located edit is meant to act at the subject's last token. The rank-one update of ROME and
MEMIT (and FT-L's or LoRA's change) acts on every position whose input it responds to, so the
question has an empirical answer: score the edit prompt with each edit's update applied at all
positions, at the subject's last token only, and everywhere except there.

Each restriction is scored as efficacy is, by exact match with the model's own decoder and the
same options; the "all" column is efficacy itself. (It used to be teacher-forced, for MDMs a
one-step decode of the fully masked state: a corrected LLaDA edit, optimised for the states its
N-step sampler passes through, then scored 0.91 at N = 4 where its efficacy was 0.99.)
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, patched
from src.evaluation.exact_match import exact_match
from src.models.base import ModelAdapter
from src.models.padding import left_pad



@torch.no_grad()
def edit_sites(adapter: ModelAdapter, cases: list[EditCase], patches: list[RowPatch],
               decoder_options: Mapping[str, Any] | None = None) -> list[dict[str, float]]:
    """Per edit, {site: 1.0 if the decoder writes the new object with the update at ``site``}
    for the restricted sites; "all" is the edit's efficacy, which the caller already has (a
    second decode would differ where the sampler draws at random, as Dream's does)."""
    scores: list[dict[str, float]] = [{} for _ in cases]
    # One decoder batch per target length, padded as exact_match pads it, so the subject's
    # column is known; the mask spans the generated tokens too (never the subject).
    for length in sorted({len(c.target_ids) for c in cases}):
        idx = [e for e, c in enumerate(cases) if len(c.target_ids) == length]
        prompts = [cases[e].prompt.ids for e in idx]
        ids, _ = left_pad(prompts, adapter.pad_token_id)
        subject = torch.tensor([ids.shape[1] - len(p) + cases[e].prompt.subject_last for e, p in zip(idx, prompts)])
        width = ids.shape[1] + length + dict(decoder_options or {}).get("extra_length", 0)
        at_subject = torch.arange(width)[None] == subject[:, None]
        for site, restrict in (("subject_only", at_subject), ("except_subject", ~at_subject)):
            with patched(patches, torch.tensor(idx), restrict):
                hits, _ = exact_match(adapter, prompts, [cases[e].target_ids for e in idx], decoder_options,
                                      batch_size=len(idx))
            for e, hit in zip(idx, hits):
                scores[e][site] = float(hit)
    return scores
