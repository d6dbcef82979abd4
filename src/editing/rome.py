"""ROME: a value shift at one layer's MLP down-projection, inserted by a rank-one update."""
from __future__ import annotations

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch
from src.editing.shift import ValueShiftMethod
from src.editing.rank_one import rank_one_factors


class ROME(ValueShiftMethod):
    """Rank-One Model Editing at ``layers[0]`` (Meng et al. 2022)."""

    def shift_module(self) -> torch.nn.Module:
        return self.adapter.edit_module(self.layers[0])

    def shift_size(self) -> int:
        return self.adapter.edit_module(self.layers[0]).out_features

    def updates(self, cases: list[EditCase], targets: torch.Tensor) -> list[LowRankPatch]:
        layer = self.layers[0]
        module = self.adapter.edit_module(layer)
        keys = self.keys(layer, cases)
        # The same averaged k* in W k* and in the denominator (ROME's known inconsistency).
        residual = targets - keys @ module.weight.T
        U, V = rank_one_factors(keys, residual, self.second_moment(layer), lam=0.0)
        return [LowRankPatch(module, U, V)]
