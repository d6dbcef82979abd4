"""MEMIT: a shift of the residual stream after the window's last layer, spread over the
window's MLP down-projections from the first layer to the last."""
from __future__ import annotations

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch
from src.editing.shift import ValueShiftMethod
from src.editing.rank_one import rank_one_factors


class MEMIT(ValueShiftMethod):
    """Mass-Editing Memory in a Transformer (Meng et al. 2023), one update per edit."""

    def shift_module(self) -> torch.nn.Module:
        return self.adapter.module(self.adapter.layer_module_template, self.layers[-1])

    def updates(self, cases: list[EditCase], targets: torch.Tensor) -> list[LowRankPatch]:
        patches: list[LowRankPatch] = []
        owner = torch.arange(len(cases))
        last = self.shift_module()
        for i, layer in enumerate(self.layers):
            keys = self.keys(layer, cases, patches)
            current = self._capture(last, [self._state_inputs(c, c.prompt) for c in cases], "output",
                                    owner, patches)
            # Each remaining layer takes an equal share of what is still missing.
            residual = (targets - current) / (len(self.layers) - i)
            U, V = rank_one_factors(keys, residual, self.second_moment(layer), lam=self.hparams.mom2_lambda)
            patches.append(LowRankPatch(self.adapter.edit_module(layer), U, V))
        return patches
