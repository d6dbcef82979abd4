"""Forward hooks through which every edit method acts on a frozen network.

Two mechanisms cover all methods and families:

* ``ValueShift``: adds a per-edit vector to a module's output at one token per row. It is
  the optimised variable of ROME (output of the MLP down-projection) and MEMIT (output of a
  layer, the residual stream) while a batch of independent edits is optimised together.
* ``LowRankPatch``: adds a per-edit low-rank update ``x @ V_e @ U_e^T`` to a linear module's
  output. It evaluates B independent edits in one batch, each against its own weight update,
  without a weight copy per edit; ``merge`` writes an update into the weights for sequential
  editing.
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
        shift[rows, self.position] = self.delta[self.edit_of_row].to(hidden.dtype)
        return _replace_output(output, hidden + shift)

    def remove(self) -> None:
        self.handle.remove()


class LowRankPatch:
    """Per-row low-rank update of a linear module: row r uses edit ``group_of_row[r]``.

    ``U`` is [E, d_out, r] and ``V`` is [E, d_in, r]; the update of edit e is ``U_e V_e^T``.
    Rows whose group is -1 run unpatched (e.g. the unedited reference inside one batch).
    """

    def __init__(self, module: nn.Linear, U: torch.Tensor, V: torch.Tensor):
        self.module, self.U, self.V = module, U, V
        self.group_of_row: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    @contextmanager
    def rows(self, group_of_row: torch.Tensor):
        """Binds the rows of the next forward passes to their edits."""
        previous, self.group_of_row = self.group_of_row, group_of_row
        try:
            yield self
        finally:
            self.group_of_row = previous

    def _hook(self, module, inputs, output):
        if self.group_of_row is None:
            raise RuntimeError("LowRankPatch: forward pass without rows bound; use `with patch.rows(...)`")
        x = inputs[0]
        groups = self.group_of_row.clamp(min=0)
        active = (self.group_of_row >= 0).to(output.dtype)[:, None, None]
        coeff = torch.einsum("bld,bdr->blr", x, self.V[groups].to(x.dtype))
        update = torch.einsum("blr,bor->blo", coeff, self.U[groups].to(x.dtype))
        return output + active * update

    def merge(self, group: int = 0) -> None:
        """Writes edit ``group``'s update into the module's weight (sequential editing)."""
        with torch.no_grad():
            self.module.weight += (self.U[group] @ self.V[group].T).to(self.module.weight.dtype)

    def remove(self) -> None:
        self.handle.remove()


@contextmanager
def patched(patches: list[LowRankPatch], group_of_row: torch.Tensor):
    """Binds the same row-to-edit map on several patches (MEMIT spreads one edit over layers);
    with no patches it binds nothing."""
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch.rows(group_of_row))
        yield
