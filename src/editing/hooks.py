"""Forward hooks through which every edit method acts on a frozen network.

Two mechanisms cover all methods and families:

* ``ValueShift``: adds a per-edit vector to a module's output at one token per row. It is
  the optimised variable of ROME (output of the MLP down-projection) and MEMIT (output of a
  layer, the residual stream) while a batch of independent edits is optimised together.
* ``RowPatch``: adds a per-edit weight update to a linear module's output, each row of the
  batch using its own edit's update (``patched`` binds rows to edits). It evaluates B
  independent edits in one batch without a weight copy per edit, and ``merge`` writes an
  update into the weights for sequential editing. ``LowRankPatch`` holds the update as
  factors (ROME, MEMIT, LoRA), ``FullRankPatch`` as a whole matrix (constrained fine-tuning).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
from torch import nn


def _output_tensor(output):
    # transformers' decoder layers may return a tuple whose first item is the hidden state.
    return output[0] if isinstance(output, tuple) else output


def _replace_output(output, tensor):
    return (tensor, *output[1:]) if isinstance(output, tuple) else tensor


class ValueShift:
    """Adds ``delta[edit_of_row[r]]`` to the output of ``module`` at ``position[r]`` in row r."""

    def __init__(self, module: nn.Module, delta: torch.Tensor, edit_of_row: torch.Tensor,
                 position: torch.Tensor):
        self.delta, self.edit_of_row, self.position = delta, edit_of_row, position
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        hidden = _output_tensor(output)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        shift = torch.zeros_like(hidden)
        shift[rows, self.position.to(hidden.device)] = self.delta[self.edit_of_row].to(hidden.dtype)
        return _replace_output(output, hidden + shift)

    def remove(self) -> None:
        self.handle.remove()


class RowPatch:
    """Per-row update of a linear module's output: row r uses edit ``group_of_row[r]``.

    Rows whose group is -1 run unpatched (e.g. the unedited reference inside one batch).
    Subclasses give the update of a row's input (``update``) and edit e's weight change.
    """

    def __init__(self, module: nn.Linear):
        self.module = module
        self.group_of_row: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    @contextmanager
    def rows(self, group_of_row: torch.Tensor, positions: torch.Tensor | None = None):
        """Binds the rows of the next forward passes to their edits; ``positions`` [B, L]
        (bool) limits the update to those tokens (where an edit acts: ``edit_sites``)."""
        previous = self.group_of_row, self.positions
        self.group_of_row, self.positions = group_of_row, positions
        try:
            yield self
        finally:
            self.group_of_row, self.positions = previous

    def _hook(self, module, inputs, output):
        if self.group_of_row is None:
            raise RuntimeError(f"{type(self).__name__}: forward pass without rows bound; use `with patch.rows(...)`")
        groups = self.group_of_row.clamp(min=0)
        active = (self.group_of_row >= 0).to(output)[:, None, None]
        if self.positions is not None:
            # A decoder's passes grow (ARM) or keep (MDM) the prompt's columns: the mask covers
            # the longest and is cut to each pass.
            active = active * self.positions[:, :output.shape[1]].to(output)[..., None]
        return output + active * self.update(inputs[0], groups)

    def update(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """The change of the output [B, L, d_out] for input ``x`` [B, L, d_in], row b using edit ``groups[b]``."""
        raise NotImplementedError

    def weight_delta(self, group: int) -> torch.Tensor:
        """Edit ``group``'s change of the weight, [d_out, d_in]."""
        raise NotImplementedError

    def merge(self, group: int = 0) -> None:
        """Writes edit ``group``'s update into the module's weight (sequential editing)."""
        with torch.no_grad():
            self.module.weight += self.weight_delta(group).to(self.module.weight)

    def remove(self) -> None:
        self.handle.remove()


class LowRankPatch(RowPatch):
    """``U`` is [E, d_out, r] and ``V`` is [E, d_in, r]; the update of edit e is ``U_e V_e^T``."""

    def __init__(self, module: nn.Linear, U: torch.Tensor, V: torch.Tensor):
        super().__init__(module)
        self.U, self.V = U, V

    def update(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        coeff = torch.einsum("bld,bdr->blr", x, self.V[groups].to(x))
        return torch.einsum("blr,bor->blo", coeff, self.U[groups].to(x))

    def weight_delta(self, group: int) -> torch.Tensor:
        return self.U[group] @ self.V[group].T


class FullRankPatch(RowPatch):
    """``D`` is [E, d_out, d_in]; the update of edit e is ``D_e`` itself."""

    def __init__(self, module: nn.Linear, D: torch.Tensor):
        super().__init__(module)
        self.D = D

    def update(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        # One matmul per edit rather than gathering D per row: a row's copy of D would cost
        # d_out x d_in each, which does not fit for a real model's MLP.
        out = x.new_zeros(*x.shape[:-1], self.D.shape[1])
        for g in groups.unique().tolist():
            rows = groups == g
            out[rows] = x[rows] @ self.D[g].T.to(x)
        return out

    def weight_delta(self, group: int) -> torch.Tensor:
        return self.D[group]


@contextmanager
def patched(patches: list[RowPatch], group_of_row: torch.Tensor, positions: torch.Tensor | None = None):
    """Binds the same row-to-edit map (and token mask) on several patches (MEMIT spreads one
    edit over layers); with no patches it binds nothing."""
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch.rows(group_of_row, positions))
        yield


@contextmanager
def applied(patches: list[RowPatch], group_of_row: torch.Tensor):
    """Binds patches built for one forward pass (the live parameters of an optimisation step)
    and removes their hooks afterwards."""
    try:
        with patched(patches, group_of_row):
            yield
    finally:
        for patch in patches:
            patch.remove()
