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

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, patched
from src.evaluation.exact_match import exact_match, row_seed
from src.models.base import ModelAdapter
from src.models.padding import left_pad



@torch.no_grad()
def edit_sites(adapter: ModelAdapter, cases: list[EditCase], patches: list[RowPatch],
               decoder_options: Mapping[str, Any] | None = None,
               decode_seeds: Sequence[int] = (0,)) -> list[dict[str, float]]:
    """Per edit, {site: share of ``decode_seeds`` in which the decoder writes the new object with
    the update at ``site``} for the restricted sites; "all" is the edit's efficacy, which the
    caller already has. Each seed draws as the caller's efficacy decode does (``row_seed`` of the
    seed, the case_id and prompt 0), so the sites and "all" see the same reveal orders."""
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
            hits = [0] * len(idx)
            for seed in decode_seeds:
                with patched(patches, torch.tensor(idx), restrict):
                    ok, _ = exact_match(adapter, prompts, [cases[e].target_ids for e in idx], decoder_options,
                                        batch_size=len(idx),
                                        row_seeds=[row_seed(seed, cases[e].request.case_id, 0) for e in idx])
                hits = [h + hit for h, hit in zip(hits, ok)]
            for e, hit in zip(idx, hits):
                scores[e][site] = hit / len(decode_seeds)
    return scores
