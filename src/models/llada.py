"""LLaDA (masked diffusion, LLaMA-like, bidirectional): the project's own network.

Module names reproduce the released checkpoint's tensor names (``model.transformer.wte``,
``model.transformer.blocks.{i}.ff_out``, ...) so its safetensors load as they are. As in the
reference code the output head has ``embedding_size`` rows and the logits are not sliced, so
``logits.shape[-1] == adapter.vocab_size == embedding_size`` (equal to vocab_size for LLaDA-8B).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelAdapter
from .checkpoint import load_network, read_config, save_network
from .layers import RMSNorm, attention, init_weights, key_padding_mask, rotary_cos_sin, swiglu

# config.json settings of the reference code that this implementation does not provide: a
# checkpoint asking for anything else is refused instead of being run wrongly.
_REQUIRED = {"block_type": "llama", "layer_norm_type": "rms", "activation_type": "silu", "rope": True,
             "alibi": False, "scale_logits": False, "input_emb_norm": False, "include_qkv_bias": False,
             "attention_layer_norm": False, "block_group_size": 1}


@dataclass
class LLaDAConfig:
    """LLaDA's config.json (defaults: LLaDA-8B). Unknown keys are kept in ``extra`` for the round trip."""

    d_model: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = 32
    mlp_hidden_size: int = 12288
    vocab_size: int = 126464
    embedding_size: int | None = 126464
    mask_token_id: int = 126336
    pad_token_id: int = 126081
    eos_token_id: int | None = 126081
    rope_theta: float = 500000.0
    rms_norm_eps: float = 1e-5
    weight_tying: bool = False
    include_bias: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def rows(self) -> int:
        """Rows of the embedding and the output head."""
        return self.embedding_size or self.vocab_size

    @classmethod
    def from_dict(cls, config: dict, source: str = "config") -> "LLaDAConfig":
        names = {f.name for f in fields(cls)} - {"extra"}
        if config.get("model_type", "llada") != "llada":
            raise ValueError(f"{source}: model_type {config.get('model_type')!r} is not 'llada'")
        cfg = cls(**{k: v for k, v in config.items() if k in names},
                  extra={k: v for k, v in config.items() if k not in names and k != "model_type"})
        for key, want in _REQUIRED.items():
            if key in cfg.extra and cfg.extra[key] != want:
                raise ValueError(f"{source}: {key}={cfg.extra[key]!r} is not supported (only {want!r})")
        if cfg.include_bias:
            raise ValueError(f"{source}: include_bias=true is not supported (LLaDA checkpoints have no biases)")
        if cfg.d_model % cfg.n_heads or cfg.n_heads % cfg.kv_heads:
            raise ValueError(f"{source}: d_model {cfg.d_model}, n_heads {cfg.n_heads} and n_kv_heads "
                             f"{cfg.kv_heads} do not divide evenly")
        return cfg

    def to_dict(self) -> dict:
        config = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**self.extra, **config, "model_type": "llada"}


class LLaDABlock(nn.Module):
    """Pre-norm block; ``attn_out``'s output is the attention output, ``ff_out``'s the MLP output."""

    def __init__(self, cfg: LLaDAConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg.n_heads, cfg.kv_heads
        kv_dim = cfg.kv_heads * (cfg.d_model // cfg.n_heads)
        self.attn_norm = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, kv_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, kv_dim, bias=False)
        self.attn_out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ff_norm = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.ff_proj = nn.Linear(cfg.d_model, cfg.mlp_hidden_size, bias=False)  # gate (SiLU)
        self.up_proj = nn.Linear(cfg.d_model, cfg.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(cfg.mlp_hidden_size, cfg.d_model, bias=False)  # down: the edit site

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.attn_norm(x)
        att = attention(self.q_proj(h), self.k_proj(h), self.v_proj(h), self.n_heads, self.n_kv_heads, cos, sin, mask)
        x = x + self.attn_out(att)
        return x + swiglu(self.ff_norm(x), self.ff_proj, self.up_proj, self.ff_out)


class LLaDANetwork(nn.Module):
    """Root whose state-dict names are the checkpoint's: ``model.transformer.*``."""

    def __init__(self, cfg: LLaDAConfig):
        super().__init__()
        self.config = cfg
        transformer = nn.ModuleDict({
            "wte": nn.Embedding(cfg.rows, cfg.d_model),
            "blocks": nn.ModuleList(LLaDABlock(cfg) for _ in range(cfg.n_layers)),
            "ln_f": RMSNorm(cfg.d_model, cfg.rms_norm_eps),
        })
        if not cfg.weight_tying:
            transformer["ff_out"] = nn.Linear(cfg.d_model, cfg.rows, bias=False)
        self.model = nn.Module()
        self.model.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor) -> torch.Tensor:
        t, cfg = self.model.transformer, self.config
        x = t.wte(input_ids)
        cos, sin = rotary_cos_sin(position_ids, cfg.d_model // cfg.n_heads, cfg.rope_theta)
        mask = key_padding_mask(attention_mask)
        for block in t.blocks:
            x = block(x, cos, sin, mask)
        x = t.ln_f(x)
        # Tied checkpoints have no head tensor: the embedding matrix doubles as the head.
        return F.linear(x, t.wte.weight) if cfg.weight_tying else t.ff_out(x)


class LLaDAAdapter(ModelAdapter):
    family = "llada"
    kind = "mdm"
    shift = 0
    decoder = "llada"
    edit_module_template = "model.transformer.blocks.{}.ff_out"
    layer_module_template = "model.transformer.blocks.{}"
    # LLaDA has no MLP/attention submodule (adding one would rename the checkpoint's tensors);
    # ff_out's output is the MLP output and attn_out's the attention output, so they stand in.
    mlp_module_template = "model.transformer.blocks.{}.ff_out"
    attn_module_template = "model.transformer.blocks.{}.attn_out"
    embed_module_name = "model.transformer.wte"
    head_module_name = "model.transformer.ff_out"

    def __init__(self, network: LLaDANetwork):
        cfg = network.config
        super().__init__(network, cfg.n_layers, cfg.d_model, cfg.rows, mask_token_id=cfg.mask_token_id,
                         pad_token_id=cfg.pad_token_id, eos_token_id=cfg.eos_token_id)

    @property
    def config(self) -> LLaDAConfig:
        return self.network.config

    @classmethod
    def from_config(cls, **config) -> "LLaDAAdapter":
        """A randomly initialised model; keyword arguments are LLaDA config.json keys."""
        network = LLaDANetwork(LLaDAConfig.from_dict(config))
        init_weights(network)
        return cls(network)

    def _network_logits(self, input_ids, attention_mask, position_ids):
        return self.network(input_ids, attention_mask, position_ids)

    def save(self, path: str | Path) -> None:
        save_network(self.network, self.config.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "LLaDAAdapter":
        cfg = LLaDAConfig.from_dict(read_config(path), source=str(Path(path) / "config.json"))
        return cls(load_network(path, lambda: LLaDANetwork(cfg), dtype).eval())
