"""The pretraining optimizers: AdamW, or Muon on the transformer blocks' matrices with AdamW on the rest."""
from __future__ import annotations

from typing import Any

import torch

from src.models.base import ModelAdapter

OPTIMIZERS = ("adamw", "muon")
ADAMW_BETAS = (0.9, 0.98)


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon (momentum orthogonalised by Newton-Schulz, ``torch.optim.Muon``) on the 2-D weights of
    the transformer blocks, AdamW on the embeddings, the output head, norms and biases: Muon is
    defined for hidden matrices only.

    One optimizer object holding both, so that Lightning's automatic optimisation and one LR
    schedule drive them: ``param_groups`` are the two optimizers' own group dicts, so a schedule
    that scales each group's ``lr`` scales Muon's and AdamW's alike.

    Args: ``matrices`` the blocks' 2-D weights; ``rest`` every other parameter; ``muon_lr``
    Muon's peak learning rate (its own scale: 0.02 is Muon's usual, AdamW's 7e-4 is another
    unit); ``adamw_lr`` and ``weight_decay`` AdamW's (the decay is applied to both).
    """

    def __init__(self, matrices: list[torch.nn.Parameter], rest: list[torch.nn.Parameter],
                 muon_lr: float, adamw_lr: float, weight_decay: float):
        self.muon = torch.optim.Muon(matrices, lr=muon_lr, weight_decay=weight_decay)
        self.adamw = torch.optim.AdamW(rest, lr=adamw_lr, weight_decay=weight_decay, betas=ADAMW_BETAS)
        super().__init__([*matrices, *rest], {})
        self.param_groups = [*self.muon.param_groups, *self.adamw.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.adamw.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])


def block_matrices(adapter: ModelAdapter) -> list[torch.nn.Parameter]:
    """The 2-D weights inside the adapter's transformer layers (attention and MLP projections)."""
    return [p for layer in range(adapter.num_layers)
            for p in adapter.module(adapter.layer_module_template, layer).parameters() if p.ndim == 2]


def check_optimizer(name: str) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer={name!r}: choose one of {OPTIMIZERS}")


def pretrain_optimizer(adapter: ModelAdapter, name: str, lr: float, weight_decay: float,
                       muon_lr: float) -> torch.optim.Optimizer:
    """AdamW over every parameter (``name="adamw"``), or ``MuonWithAdamW`` (``"muon"``)."""
    check_optimizer(name)
    if name == "adamw":
        return torch.optim.AdamW(adapter.parameters(), lr=lr, weight_decay=weight_decay, betas=ADAMW_BETAS)
    matrices = block_matrices(adapter)
    chosen = {id(p) for p in matrices}
    rest = [p for p in adapter.parameters() if id(p) not in chosen]
    return MuonWithAdamW(matrices, rest, muon_lr=muon_lr, adamw_lr=lr, weight_decay=weight_decay)
