"""Edits that optimise a change of the edit layer's MLP down-projection directly (FT-L, LoRA).

Each edit owns its own change; it acts through the same per-row patch while it is optimised
and when it is evaluated, so B independent edits share one forward pass without a weight
copy per edit, and ``sequential`` merges it into the weights like any other update.
"""
from __future__ import annotations

import torch
from torch import nn

from src.editing.cases import EditCase
from src.editing.hooks import RowPatch, applied
from src.editing.method import EditMethod


class WeightEditMethod(EditMethod):
    """Base of the direct weight edits of ``layers[0]``'s MLP down-projection."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if len(self.layers) != 1:
            raise ValueError(f"{type(self).__name__} edits one layer; got layers={self.layers}")

    def edit_module(self) -> nn.Linear:
        return self.adapter.edit_module(self.layers[0])

    def patches(self, n: int) -> list[RowPatch]:
        """Per-row patches of the first ``n`` edits, built from the live parameters so that
        gradients reach them."""
        raise NotImplementedError

    def editing(self, n: int, edit_of_row: torch.Tensor, position: torch.Tensor):
        return applied(self.patches(n), edit_of_row)

    def final_patches(self, cases: list[EditCase]) -> list[RowPatch]:
        return self.patches(len(cases))
