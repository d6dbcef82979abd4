"""Building blocks shared by the project's own masked-diffusion networks (LLaDA and Dream).

Both families are LLaMA-style pre-norm transformers without a causal mask; they differ only in
module names (which fix their checkpoints' tensor names) and in Dream's q/k/v biases. The maths
lives here once; ``llada.py`` and ``dream.py`` only arrange modules under their own names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a weight and no bias (LLaMA, Qwen2, LLaDA's "rms" norm)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 (half precision loses the mean of squares), scale in the input dtype.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotary_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary tables [B, L, head_dim] in float32 for explicit per-row positions.

    Positions come from the caller so a left-padded row gets the same angles as its unpadded
    version. Layout is "rotate_half" (frequencies repeated over the two halves), as in HF LLaMA.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim)
    angles = position_ids.float()[..., None] * inv_freq  # [B, L, head_dim / 2]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, H, L, D] by tables [B, L, D]; done in float32 (LLaDA's rope_full_precision)."""
    xf = x.float()
    out = xf * cos[:, None] + _rotate_half(xf) * sin[:, None]
    return out.to(x.dtype)


def key_padding_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """[B, 1, 1, L] boolean mask (True = real key) from ``attention_mask`` [B, L] (1 = real, 0 = pad).

    None when nothing is padded, which lets SDPA pick its fast kernels; computed once per forward.
    """
    return None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_heads: int, n_kv_heads: int,
              cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
              is_causal: bool = False) -> torch.Tensor:
    """Grouped-query attention on projected q [B, L, H*D], k and v [B, L, Hkv*D]; returns [B, L, H*D].

    ``mask`` (from ``key_padding_mask``) hides padded keys from every query. Masked diffusion
    models attend in both directions, hence ``is_causal`` defaults to False.
    """
    B, L, _ = q.shape
    head_dim = q.shape[-1] // n_heads
    q = q.view(B, L, n_heads, head_dim).transpose(1, 2)
    k = k.view(B, L, n_kv_heads, head_dim).transpose(1, 2)
    v = v.view(B, L, n_kv_heads, head_dim).transpose(1, 2)
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    if n_kv_heads != n_heads:  # query head h reads key/value head h // (n_heads / n_kv_heads)
        k = k.repeat_interleave(n_heads // n_kv_heads, dim=1)
        v = v.repeat_interleave(n_heads // n_kv_heads, dim=1)
    if mask is not None and is_causal:  # SDPA takes either a mask or is_causal, not both
        mask, is_causal = mask & torch.ones(L, L, dtype=torch.bool, device=q.device).tril(), False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
    return out.transpose(1, 2).reshape(B, L, n_heads * head_dim)


def swiglu(x: torch.Tensor, gate: nn.Linear, up: nn.Linear, down: nn.Linear) -> torch.Tensor:
    """The gated MLP of all four families: down(silu(gate x) * up x)."""
    return down(F.silu(gate(x)) * up(x))


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Random init for ``from_config`` models: small normal weights (as HF's initializer_range)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, RMSNorm):
            nn.init.ones_(m.weight)
