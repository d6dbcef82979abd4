"""The two pretraining objectives, as LightningModules over any family adapter."""
from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from src.models.base import ModelAdapter

from .optim import check_optimizer, pretrain_optimizer

LOSS_ON = ("object", "sequence")
MDM_WEIGHTINGS = ("elbo", "mean")


class PretrainObjective(L.LightningModule):
    """AdamW (or Muon with AdamW, ``optim.pretrain_optimizer``) with linear warm-up and cosine
    decay (to 5% of the peak); subclasses define the loss.

    Args: ``adapter`` the model trained in place; ``loss_on`` "object" or "sequence" (which
    tokens the loss covers, ``loss_span``); ``lr`` AdamW's peak learning rate; ``weight_decay``
    the optimizer's; ``warmup_steps`` optimiser steps of linear warm-up; ``optimizer`` "adamw"
    or "muon"; ``muon_lr`` Muon's peak learning rate.
    """

    def __init__(self, adapter: ModelAdapter, loss_on: str = "object", lr: float = 7e-4,
                 weight_decay: float = 0.01, warmup_steps: int = 50, optimizer: str = "adamw",
                 muon_lr: float = 0.02):
        super().__init__()
        if loss_on not in LOSS_ON:
            raise ValueError(f"loss_on={loss_on!r}: choose one of {LOSS_ON}")
        self.adapter, self.loss_on = adapter, loss_on
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.optimizer, self.muon_lr = optimizer, muon_lr
        check_optimizer(optimizer)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("pretrain/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def configure_optimizers(self):
        opt = pretrain_optimizer(self.adapter, self.optimizer, self.lr, self.weight_decay, self.muon_lr)
        total = max(self.trainer.estimated_stepping_batches, self.warmup_steps + 1)

        def schedule(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = (step - self.warmup_steps) / (total - self.warmup_steps)
            return 0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def loss_span(batch: dict[str, torch.Tensor], loss_on: str) -> torch.Tensor:
    """The tokens a pretraining loss covers: the object span, or with ``loss_on="sequence"``
    every real token (rows are right-padded)."""
    if loss_on == "object":
        return batch["span"]
    return batch["attention_mask"].bool()


class ARMObjective(PretrainObjective):
    """Teacher-forced next-token cross-entropy on the object span, or with ``loss_on="sequence"``
    on every real token after the first (a whole-text language model)."""

    def loss(self, batch):
        logits = self.adapter.token_logits(batch["input_ids"], batch["attention_mask"])
        span = loss_span(batch, self.loss_on).clone()
        span[:, 0] = False  # the first token has no prediction
        return F.cross_entropy(logits[span], batch["input_ids"][span])


class MDMObjective(PretrainObjective):
    """Masked-diffusion loss (LLaDA's SFT form, with the mask count drawn directly): per row mask
    k ~ U{1..G} of its G groups of loss tokens (``loss_on``: the object tokens, or all its tokens
    as LLaDA and Dream pretrain), cross-entropy on the masked ones weighted by G/k.

    A group is one token, or a token and its copies in the sample (the batch's ``group``, from
    ``collate_right`` with ``tie_copies``): an object named in a tag line and again in its
    sentence is then masked in both places or in neither, so it must be recalled rather than
    copied from its other mention.

    Every k is one of the states the sampler visits (N masks, then N-1, ...). Drawing t ~ U(0, 1)
    and weighting by 1/t is the same objective in expectation, but a row with a tiny t and one
    masked token gets a weight in the hundreds: gradient spikes that slowed training several-fold.

    Two departures from that form, measured for the pretraining cost (README, "Cutting that
    cost"): ``weighting="mean"`` drops the G/k weight (the plain mean over masked tokens), and
    ``full_mask_prob`` masks every group of that share of rows (the state recall decodes from).
    """

    def __init__(self, adapter: ModelAdapter, loss_on: str = "object", lr: float = 7e-4,
                 weighting: str = "elbo", full_mask_prob: float = 0.0, **kwargs):
        super().__init__(adapter, loss_on=loss_on, lr=lr, **kwargs)
        if weighting not in MDM_WEIGHTINGS:
            raise ValueError(f"weighting={weighting!r}: choose one of {MDM_WEIGHTINGS}")
        if not 0.0 <= full_mask_prob <= 1.0:
            raise ValueError(f"full_mask_prob={full_mask_prob}: a probability in [0, 1]")
        self.weighting, self.full_mask_prob = weighting, full_mask_prob

    def loss(self, batch):
        ids, span = batch["input_ids"], loss_span(batch, self.loss_on)
        positions = torch.arange(ids.shape[1], device=ids.device)
        group = batch.get("group", positions.expand_as(ids))
        heads = span & (group == positions)  # one token stands for each group
        count = heads.sum(dim=1)
        k = (torch.rand(count.shape, device=ids.device) * count).long() + 1
        if self.full_mask_prob:
            k = torch.where(torch.rand(count.shape, device=ids.device) < self.full_mask_prob, count, k)
        # The k groups whose heads have the lowest random scores are masked (scores > 1 elsewhere).
        scores = torch.rand(ids.shape, device=ids.device).masked_fill(~heads, 2.0)
        chosen = scores.argsort(dim=1).argsort(dim=1) < k.unsqueeze(1)
        masked = chosen.gather(1, group) & span
        noisy = torch.where(masked, torch.full_like(ids, self.adapter.mask_token_id), ids)
        logits = self.adapter.token_logits(noisy, batch["attention_mask"])
        ce = F.cross_entropy(logits[masked], ids[masked], reduction="none")
        if self.weighting == "mean":
            return ce.mean()
        weight = (count / k).unsqueeze(1).expand_as(ids)[masked]
        return (ce * weight).sum() / span.sum()


def objective_for(adapter: ModelAdapter, loss_on: str = "object", lr: float = 7e-4,
                  mdm_options: dict | None = None, optim_options: dict | None = None) -> PretrainObjective:
    """The family's pretraining objective: next-token for ARMs, masked diffusion for MDMs
    (with ``mdm_options``, ``MDMObjective``'s ``weighting`` and ``full_mask_prob``);
    ``optim_options`` are ``PretrainObjective``'s ``optimizer`` and ``muon_lr``."""
    if adapter.kind == "arm":
        return ARMObjective(adapter, loss_on=loss_on, lr=lr, **(optim_options or {}))
    return MDMObjective(adapter, loss_on=loss_on, lr=lr, **(mdm_options or {}), **(optim_options or {}))
