"""ROME: a value shift at one layer's MLP down-projection, inserted by a rank-one update.

With ``through_update`` the shift is optimised through the rank-one update it becomes: the
update ``delta (C^-1 k*)^T / (k*^T C^-1 k*)`` acts on every position of every row during the
optimisation, so the loss sees what the written edit will do (``shift.ValueShiftMethod``).
ROME adds the shift at the subject's last token only, which assumes the keys at other
positions are near-orthogonal to ``C^-1 k*``; in small models they are not (on the fact
world's 4-layer llama other positions of the prompt carry 30-60% of the update), and the
written edit then differs from the optimised one.
"""
from __future__ import annotations

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch
from src.editing.rank_one import context_free_map, rank_one_factors
from src.editing.shift import ValueShiftMethod


class ROME(ValueShiftMethod):
    """Rank-One Model Editing at ``layers[0]`` (Meng et al. 2022)."""

    def __init__(self, *args, keep_context: bool = False, **kwargs):
        """
        Args:
            keep_context: write an update that adds the shift at k* and nothing at the other
                positions of the edit's prompts (context prefixes included): the key map
                C^-1 k* / (k*^T C^-1 k*) becomes the least-C-norm v with v.k* = 1 and v.k = 0
                for those positions' keys (``rank_one.context_free_map``). ROME's own update
                also acts there, which in small models works against the edit. Not with
                through_update, which already optimises the update as written.
        """
        if keep_context and kwargs.get("through_update"):
            raise ValueError("ROME keep_context=true is not supported with through_update=true: set one of them to false")
        super().__init__(*args, **kwargs)

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
        if self.hparams.keep_context:
            U = residual[:, :, None].float()
            V = context_free_map(keys, self.context_keys(layer, cases), self.second_moment(layer))
        else:
            U, V = rank_one_factors(keys, residual, self.second_moment(layer), lam=self.insertion_lambda())
        return [LowRankPatch(module, U, V)]

    def insertion_lambda(self) -> float:
        return 0.0  # ROME's exact insertion: W' k* = v*

    def through_layers(self) -> list[int]:
        return self.layers[:1]
