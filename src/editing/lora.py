"""LoRA edit of one MLP down-projection: per edit, W + (alpha / r) B A with A, B optimised.

peft holds one set of adapters for a whole batch, so B independent edits in one forward
pass cannot each be a peft adapter. Each edit's A [r, d_in] and B [d_out, r] are instead rows
of two parameters applied as ``LowRankPatch(U = B * scaling, V = A^T)``: peft's LoRA
forward, ``base(x) + scaling * B(A(x))``, with peft's hyperparameters and initialisation
(``lora_config`` is the peft configuration an edit reproduces; tests check it against peft).
"""
from __future__ import annotations

import math
import zlib
from typing import Any

import torch
from peft import LoraConfig

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch, RowPatch
from src.editing.weight_edit import WeightEditMethod


class LoRAEdit(WeightEditMethod):
    """Low-rank adapter on ``layers[0]``'s MLP down-projection, one adapter per edit."""

    def __init__(self, *args, rank: int = 8, alpha: int = 32, **kwargs):
        """
        Args:
            rank: LoRA rank r.
            alpha: LoRA alpha; the update is scaled by alpha / r (peft's lora_alpha).
        """
        super().__init__(*args, **kwargs)
        if rank < 1:
            raise ValueError(f"rank must be at least 1, got {rank}")
        config = self.lora_config()
        self.scaling = config.lora_alpha / config.r
        module = self.edit_module()
        self.lora_A = torch.nn.Parameter(torch.zeros(self.max_batch, rank, module.in_features))
        self.lora_B = torch.nn.Parameter(torch.zeros(self.max_batch, module.out_features, rank))

    def lora_config(self) -> LoraConfig:
        """peft's configuration of one edit's adapter on the network (``adapter.network``)."""
        return LoraConfig(r=self.hparams.rank, lora_alpha=self.hparams.alpha, lora_dropout=0.0,
                          target_modules=[self.adapter.edit_module_name(self.layers[0])])

    def edit_parameters(self) -> list[torch.nn.Parameter]:
        return [self.lora_A, self.lora_B]

    def start_group(self, cases: list[EditCase]) -> dict[str, Any]:
        # peft's init (A Kaiming-uniform, B zero), drawn per edit from its case id so that an
        # edit starts from the same A whatever batch it is in.
        for e, case in enumerate(cases):
            generator = torch.Generator().manual_seed(zlib.crc32(case.request.case_id.encode()))
            torch.nn.init.kaiming_uniform_(self.lora_A[e], a=math.sqrt(5), generator=generator)
        self.lora_B.zero_()
        return {}

    def patches(self, n: int) -> list[RowPatch]:
        return [LowRankPatch(self.edit_module(), self.lora_B[:n] * self.scaling, self.lora_A[:n].transpose(1, 2))]

    def change_norms(self, n: int) -> torch.Tensor:
        return (self.scaling * self.lora_B[:n] @ self.lora_A[:n]).detach().flatten(1).norm(dim=1)
