"""The log-probability of a multi-token object given a prompt, one definition per family kind.

For a prompt x and an object y = (y_1..y_N) placed right after it:

- ARM, ``chain_rule_logprob``: the teacher-forced chain rule
  log P(y | x) = sum_j log p(y_j | x, y_<j).
- MDM, ``unmasking_order_logprob``: the chain rule in the sampler's unmasking order. Start with
  all N object positions [MASK]ed; at each of N stages score every still-masked position with
  log p(gold token), reveal the highest one (the gold token goes in), and add its log p. This is
  LLaDA's low-confidence remasking with one token per step (a single block, ties to the
  leftmost position), run on the gold object instead of the model's own samples: whenever the
  sampler would produce y, it unmasks y in exactly this order and the score is its chain rule.
- MDM, ``elbo_logprob``: LLaDA's Monte Carlo ELBO, a lower bound on log P(y | x):
  mean over n samples of  (N / k) * sum_{j masked} log p(y_j | x, y_unmasked),  with
  k ~ U{1..N} and k positions chosen uniformly to mask (LLaDA stratifies k over its samples;
  here each sample draws k independently). Seeded: the same call gives the same number.

MDM distributions leave out [MASK] (renormalised over the other tokens), as the samplers do,
so scores and the samplers' confidences agree. Every function takes many (prompt, object) pairs
at once, left-pads them into one batch and returns a float tensor [B] of summed log-probs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from src.models.base import ModelAdapter
from src.models.padding import left_pad

MDMEstimator = Literal["order", "elbo"]


def model_device(adapter: ModelAdapter) -> torch.device:
    return next(adapter.parameters()).device


@dataclass
class ObjectBatch:
    """Left-padded ``adapter.target_inputs`` rows; the objects fill the last M columns.

    ``gold`` [B, M] and ``valid`` [B, M] are right-aligned like the objects: ``valid`` is False
    on the columns of a shorter row's prompt or padding, where ``gold`` holds the pad id.
    """

    ids: torch.Tensor
    attention_mask: torch.Tensor
    gold: torch.Tensor
    valid: torch.Tensor

    @property
    def width(self) -> int:
        return self.gold.shape[1]


def object_batch(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                 objects_ids: Sequence[Sequence[int]]) -> ObjectBatch:
    """ARMs: prompt + object (teacher forcing); MDMs: prompt + all object positions [MASK]."""
    if len(prompts_ids) != len(objects_ids):
        raise ValueError(f"{len(prompts_ids)} prompts but {len(objects_ids)} objects")
    if any(len(obj) == 0 for obj in objects_ids):
        raise ValueError("every object needs at least one token")
    device = model_device(adapter)
    rows = [adapter.target_inputs(list(p), list(o))[0] for p, o in zip(prompts_ids, objects_ids)]
    ids, mask = left_pad(rows, adapter.pad_token_id, device)
    gold, valid_int = left_pad(objects_ids, adapter.pad_token_id, device)
    return ObjectBatch(ids, mask, gold, valid_int.bool())


def object_log_softmax(adapter: ModelAdapter, batch: ObjectBatch, ids: torch.Tensor) -> torch.Tensor:
    """Log-distributions [B, M, V] of the object columns when the model reads ``ids``."""
    logits = adapter.token_logits(ids, batch.attention_mask)[:, -batch.width:]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if adapter.kind == "mdm":
        logits = logits.index_fill(-1, torch.tensor([adapter.mask_token_id], device=logits.device),
                                   float("-inf"))
    return logits.log_softmax(-1)


def _gold_log_probs(adapter: ModelAdapter, batch: ObjectBatch, ids: torch.Tensor) -> torch.Tensor:
    """log p(gold) [B, M] at the object columns, 0 off the objects."""
    logp = object_log_softmax(adapter, batch, ids).gather(-1, batch.gold.unsqueeze(-1)).squeeze(-1)
    return logp.masked_fill(~batch.valid, 0.0)


def _check_kind(adapter: ModelAdapter, kind: str, name: str) -> None:
    if adapter.kind != kind:
        raise ValueError(f"{name} is defined for kind {kind!r}; {type(adapter).__name__} is {adapter.kind!r}")


@torch.no_grad()
def chain_rule_logprob(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                       objects_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """ARM: sum_j log p(y_j | x, y_<j), teacher-forced in one forward pass."""
    _check_kind(adapter, "arm", "chain_rule_logprob")
    batch = object_batch(adapter, prompts_ids, objects_ids)
    return _gold_log_probs(adapter, batch, batch.ids).sum(-1)


def _gold_unmasking(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                    objects_ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, ObjectBatch]:
    """Reveal the gold object one token at a time, most confident position first: the log p
    of each token when revealed, and the stage at which it was revealed."""
    batch = object_batch(adapter, prompts_ids, objects_ids)
    ids = batch.ids.clone()
    objects = ids[:, -batch.width:]  # a view: reveals below write into ids
    remaining = batch.valid.clone()
    revealed_logp = torch.zeros(batch.gold.shape, device=ids.device)
    stage = torch.full(batch.gold.shape, -1, dtype=torch.long, device=ids.device)
    for step in range(batch.width):
        logp = _gold_log_probs(adapter, batch, ids)
        pick = logp.masked_fill(~remaining, float("-inf")).argmax(-1, keepdim=True)  # leftmost on ties
        # Shorter objects run out of masks first; their rows reveal nothing more.
        reveal = torch.zeros_like(remaining).scatter(-1, pick, True) & remaining
        revealed_logp = torch.where(reveal, logp, revealed_logp)
        stage[reveal] = step
        objects[reveal] = batch.gold[reveal]
        remaining &= ~reveal
    return revealed_logp, stage, batch


@torch.no_grad()
def unmasking_order_logprob(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                            objects_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """MDM: the chain rule in the low-confidence unmasking order (max N forward passes)."""
    _check_kind(adapter, "mdm", "unmasking_order_logprob")
    return _gold_unmasking(adapter, prompts_ids, objects_ids)[0].sum(-1)


@torch.no_grad()
def unmasking_order(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                    objects_ids: Sequence[Sequence[int]]) -> list[list[int]]:
    """MDM: object positions (0..N-1) in the order the low-confidence sampler reveals the gold
    object; the ``sampler`` masking schedule reveals them in this order."""
    _check_kind(adapter, "mdm", "unmasking_order")
    _, stage, batch = _gold_unmasking(adapter, prompts_ids, objects_ids)
    orders = []
    for row, obj in zip(stage.tolist(), objects_ids):
        # Objects are right-aligned in the batch: they fill the last len(obj) columns.
        stages = row[len(row) - len(obj):]
        orders.append(sorted(range(len(obj)), key=stages.__getitem__))
    return orders


@torch.no_grad()
def elbo_logprob(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                 objects_ids: Sequence[Sequence[int]], num_samples: int = 32,
                 seed: int = 0) -> torch.Tensor:
    """MDM: LLaDA's Monte Carlo ELBO over ``num_samples`` masked copies (one forward each)."""
    _check_kind(adapter, "mdm", "elbo_logprob")
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    batch = object_batch(adapter, prompts_ids, objects_ids)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    valid, device = batch.valid.cpu(), batch.ids.device
    lengths = valid.sum(-1)
    total = torch.zeros(len(lengths), device=device)
    for _ in range(num_samples):
        k = (torch.rand(len(lengths), generator=generator, dtype=torch.float64) * lengths).long() + 1
        # Off-object columns rank last, so the k smallest ranks are k uniform object positions.
        scores = torch.rand(valid.shape, generator=generator).masked_fill(~valid, float("inf"))
        masked = (scores.argsort(-1).argsort(-1) < k.unsqueeze(-1)).to(device)
        ids = batch.ids.clone()  # object columns all [MASK]: put back the unmasked gold tokens
        keep = batch.valid & ~masked
        ids[:, -batch.width:][keep] = batch.gold[keep]
        logp = _gold_log_probs(adapter, batch, ids)
        total = total + (logp * masked).sum(-1) * (lengths.double() / k).to(device, logp.dtype)
    return total / num_samples


def object_logprob(adapter: ModelAdapter, prompts_ids: Sequence[Sequence[int]],
                   objects_ids: Sequence[Sequence[int]], mdm_estimator: MDMEstimator = "order",
                   num_samples: int = 32, seed: int = 0) -> torch.Tensor:
    """log P(object | prompt) [B] by the family's definition; ``num_samples`` and ``seed``
    are the ELBO's."""
    if adapter.kind == "arm":
        return chain_rule_logprob(adapter, prompts_ids, objects_ids)
    if mdm_estimator == "order":
        return unmasking_order_logprob(adapter, prompts_ids, objects_ids)
    if mdm_estimator == "elbo":
        return elbo_logprob(adapter, prompts_ids, objects_ids, num_samples, seed)
    raise ValueError(f"unknown mdm_estimator {mdm_estimator!r}; choose 'order' or 'elbo'")
