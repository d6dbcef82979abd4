"""Closed-form weight updates that make a linear map send key k to a new value.

One formula serves ROME and MEMIT. For an edit with key k, residual r (the change wanted
in the output for k) and regulariser lambda, the minimum-disturbance update is

    Delta W = r (C^-1 k)^T / (lambda + k^T C^-1 k)

ROME is lambda = 0 with r = v* - W k* (so W' k* = v* exactly); MEMIT's per-layer update
R K^T (lambda C + K K^T)^-1 for a single key reduces to the same expression by
Sherman-Morrison. The update is returned as factors (U = r, V = C^-1 k / denominator) for
``LowRankPatch``; computed in float64 because C is badly conditioned on small corpora.

MEMIT's joint mode inserts n edits together: with keys K [d_in, n] and residuals R [d_out, n],
Delta W = R K^T (lambda C + K K^T)^-1, one rank-n update shared by the n edits, as factors
U = R, V = (lambda C + K K^T)^-1 K (the matrix is symmetric). lambda must be > 0: K K^T has
rank n < d_in.
"""
from __future__ import annotations

import torch


def whiten(keys: torch.Tensor, second_moment: torch.Tensor | None) -> torch.Tensor:
    """C^-1 k for each row of ``keys`` [E, d_in]; identity when C is turned off."""
    keys = keys.double()
    if second_moment is None:
        return keys
    return torch.linalg.solve(second_moment.to(keys), keys.T).T


def rank_one_factors(keys: torch.Tensor, residuals: torch.Tensor, second_moment: torch.Tensor | None,
                     lam: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors U [E, d_out, 1], V [E, d_in, 1] of one independent update per edit."""
    u = whiten(keys, second_moment)
    denom = lam + (u * keys.double()).sum(-1, keepdim=True)
    return residuals.double()[:, :, None].float(), (u / denom)[:, :, None].float()


def joint_factors(keys: torch.Tensor, residuals: torch.Tensor, second_moment: torch.Tensor | None,
                  lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors U [d_out, n], V [d_in, n] of one update inserting all n edits together; ``keys``
    [n, d_in] and ``residuals`` [n, d_out] have one row per edit."""
    K = keys.double().T
    C = torch.eye(K.shape[0], dtype=K.dtype, device=K.device) if second_moment is None else second_moment.to(K)
    V = torch.linalg.solve(lam * C + K @ K.T, K)
    return residuals.T.float(), V.float()
