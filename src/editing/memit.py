"""MEMIT: a shift of the residual stream after the window's last layer, spread over the
window's MLP down-projections from the first layer to the last.

With ``through_update`` the shift is optimised through the updates it becomes, as ROME's
(``shift.ValueShiftMethod``): one ``delta`` per edit, split evenly over the window's L layers,
each share inserted at its layer by MEMIT's update for one key,
``(delta / L) k*^T (lambda C + k* k*^T)^-1 = (delta / L) (C^-1 k*)^T / (lambda + k*^T C^-1 k*)``
(Sherman-Morrison; that layer's C and k*), acting at every position of every row during the
optimisation. The written updates are then exactly the optimised ones. Differences from the
subject-shift MEMIT: ``delta`` is the total the window's MLPs add at their keys (lambda = 0;
lambda > 0 shrinks each share by k*^T C^-1 k* / (lambda + k*^T C^-1 k*)), not a target for the
residual stream after the last layer, and every layer's key is read in the unedited network
(MEMIT reads a layer's keys under the earlier layers' updates; here the optimisation itself
sees how those updates move later inputs, at every position).
"""
from __future__ import annotations

import torch

from src.editing.cases import EditCase
from src.editing.hooks import LowRankPatch
from src.editing.shift import ValueShiftMethod
from src.editing.rank_one import joint_factors, rank_one_factors


class JointPatch(LowRankPatch):
    """One update ``U V^T`` (U [d_out, n], V [d_in, n]) shared by all n edits of a group: every
    edit's factors are views of the same U, V, so per-row binding works as for independent edits."""

    def __init__(self, module: torch.nn.Linear, U: torch.Tensor, V: torch.Tensor):
        n = U.shape[1]
        super().__init__(module, U[None].expand(n, -1, -1), V[None].expand(n, -1, -1))
        self.merged = False

    def update(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        # Every row has the same factors: apply them once instead of gathering a copy per row.
        return (x @ self.V[0].to(x)) @ self.U[0].T.to(x)

    def merge(self, group: int = 0) -> None:
        # Sequential editing merges every edit of the group, and each edit's update is the
        # whole shared one: write it once.
        if not self.merged:
            super().merge(group)
            self.merged = True


class MEMIT(ValueShiftMethod):
    """Mass-Editing Memory in a Transformer (Meng et al. 2023)."""

    def __init__(self, *args, joint: bool = False, **kwargs):
        """
        Args:
            joint: insert the edits of a group together (MEMIT's mass editing: per layer one
                rank-n update R K^T (lambda C + K K^T)^-1 shared by the n edits; needs
                mom2_lambda > 0) instead of one independent rank-one update per edit.
                Not with ``through_update`` (split evenly over the window here): the shared
                update would carry every edit's shift into every row, so edits would not be
                optimised independently.
        """
        if joint and kwargs.get("through_update"):
            raise ValueError("MEMIT through_update=true is not supported with joint=true: "
                             "set one of them to false")
        super().__init__(*args, **kwargs)
        if joint and not self.hparams.mom2_lambda > 0:
            raise ValueError(f"MEMIT joint=true needs mom2_lambda > 0 (got {self.hparams.mom2_lambda}): "
                             "lambda C + K K^T is singular without it")

    def shift_module(self) -> torch.nn.Module:
        return self.adapter.module(self.adapter.layer_module_template, self.layers[-1])

    def through_layers(self) -> list[int]:
        return self.layers

    def updates(self, cases: list[EditCase], targets: torch.Tensor) -> list[LowRankPatch]:
        patches: list[LowRankPatch] = []
        owner = torch.arange(len(cases))
        last = self.shift_module()
        # C is a statistic of the unedited network: computed (or loaded) before any update is attached.
        moments = [self.second_moment(layer) for layer in self.layers]
        for i, layer in enumerate(self.layers):
            # Measured under the updates of the earlier layers (each edit's own, or the shared one).
            keys = self.keys(layer, cases, patches)
            current = self._capture(last, [self._state_inputs(c, c.prompt) for c in cases], "output",
                                    owner, patches)
            # Each remaining layer takes an equal share of what is still missing.
            residual = (targets - current) / (len(self.layers) - i)
            module = self.adapter.edit_module(layer)
            if self.hparams.joint:
                U, V = joint_factors(keys, residual, moments[i], lam=self.hparams.mom2_lambda)
                patches.append(JointPatch(module, U, V))
            else:
                U, V = rank_one_factors(keys, residual, moments[i], lam=self.hparams.mom2_lambda)
                patches.append(LowRankPatch(module, U, V))
        return patches
