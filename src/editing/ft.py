"""FT-L: constrained fine-tuning of one MLP down-projection (Meng et al. 2022, ROME's baseline).

Each edit's weight change D is optimised directly and clipped after every step to the
L-infinity ball ``|D_ij| <= norm_constraint`` around the original weights (absolute, as in
ROME's FT-L, not relative to the weights' scale).
"""
from __future__ import annotations

from typing import Any

import torch

from src.editing.cases import EditCase
from src.editing.hooks import FullRankPatch, RowPatch
from src.editing.weight_edit import WeightEditMethod


class FTL(WeightEditMethod):
    """Fine-tunes ``layers[0]``'s MLP down-projection, one full-rank change per edit."""

    def __init__(self, *args, norm_constraint: float | None = 5e-4, **kwargs):
        """
        Args:
            norm_constraint: absolute bound on every element of the weight change (L-infinity);
                null fine-tunes unconstrained (ROME's FT).
        """
        super().__init__(*args, **kwargs)
        if norm_constraint is not None and norm_constraint <= 0:
            raise ValueError(f"norm_constraint must be positive or null, got {norm_constraint}")
        module = self.edit_module()
        # Memory: max_batch copies of the matrix (and Adam's two moments); keep it small on real models.
        self.weight_change = torch.nn.Parameter(torch.zeros(self.max_batch, *module.weight.shape))

    def edit_parameters(self) -> list[torch.nn.Parameter]:
        return [self.weight_change]

    def start_group(self, cases: list[EditCase]) -> dict[str, Any]:
        self.weight_change.zero_()
        return {}

    def project(self, n: int) -> None:
        eps = self.hparams.norm_constraint
        if eps is not None:
            self.weight_change[:n].clamp_(-eps, eps)

    def patches(self, n: int) -> list[RowPatch]:
        return [FullRankPatch(self.edit_module(), self.weight_change[:n])]

    def change_norms(self, n: int) -> torch.Tensor:
        return self.weight_change[:n].detach().flatten(1).norm(dim=1)
