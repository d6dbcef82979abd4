"""ROME: a value shift at one layer's MLP down-projection, inserted by a rank-one update.

With ``through_update`` the shift is optimised through the rank-one update it becomes: the
update ``delta (C^-1 k*)^T / (k*^T C^-1 k*)`` acts on every position of every row during the
optimisation, so the loss sees what the written edit will do. ROME adds the shift at the
subject's last token only, which assumes the keys at other positions are near-orthogonal to
``C^-1 k*``; in small models they are not (on the fact world's 4-layer llama other positions
of the prompt carry 30-60% of the update), and the written edit then differs from the
optimised one.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch, RowPatch, applied
from src.editing.rank_one import rank_one_factors
from src.editing.shift import ValueShiftMethod


class ROME(ValueShiftMethod):
    """Rank-One Model Editing at ``layers[0]`` (Meng et al. 2022)."""

    def __init__(self, *args, through_update: bool = False, **kwargs):
        """
        Args:
            through_update: optimise the shift through its rank-one update at every position
                (the written edit is then exactly the optimised one) instead of at the subject's
                last token only.
        """
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
        U, V = rank_one_factors(keys, residual, self.second_moment(layer), lam=0.0)
        return [LowRankPatch(module, U, V)]

    # ------------------------------------------------------------------ through_update
    def start_group(self, cases: list[EditCase]) -> dict[str, Any]:
        state = super().start_group(cases)
        if self.hparams.through_update:
            layer = self.layers[0]
            keys = self.keys(layer, cases)
            # rank_one_factors with a unit residual gives V = C^-1 k* / (k*^T C^-1 k*).
            _, state["key_map"] = rank_one_factors(keys, torch.ones(len(cases), 1), self.second_moment(layer))
        return state

    def _through(self, n: int) -> LowRankPatch:
        return LowRankPatch(self.shift_module(), self.delta[:n, :, None], self._group["key_map"])

    @contextmanager
    def editing(self, n: int, edit_of_row: torch.Tensor, position: torch.Tensor):
        if not self.hparams.through_update:
            with super().editing(n, edit_of_row, position):
                yield
            return
        with applied([self._through(n)], edit_of_row):
            yield

    def final_patches(self, cases: list[EditCase]) -> list[RowPatch]:
        if not self.hparams.through_update:
            return super().final_patches(cases)
        patch = self._through(len(cases))
        patch.U = patch.U.detach().clone()
        return [patch]
