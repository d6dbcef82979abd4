"""Dream (masked diffusion, Qwen2.5 layout, bidirectional): the project's own network.

Module names reproduce Qwen2's (and so Dream's released) tensor names. Dream was initialised from
the Qwen ARM and kept its next-token head, so position i's logits predict token i+1 (shift 1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelAdapter
from .checkpoint import load_network, load_state_strict, read_config, save_network
from .layers import RMSNorm, attention, init_weights, key_padding_mask, rotary_cos_sin, swiglu

# Qwen2 options this implementation does not provide; a config asking for them is refused.
_REQUIRED = {"hidden_act": "silu", "rope_scaling": None, "use_sliding_window": False}


@dataclass
class DreamConfig:
    """Dream's config.json (defaults: Dream-v0-7B). Unknown keys are kept in ``extra``."""

    hidden_size: int = 3584
    intermediate_size: int = 18944
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    vocab_size: int = 152064
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1000000.0
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 131072
    mask_token_id: int = 151666
    pad_token_id: int = 151643
    bos_token_id: int | None = 151665
    eos_token_id: int | None = 151643
    # Keys this class does not interpret, written back unchanged ("architectures" names the
    # hub's remote-code class; kept so saved folders look like Dream's own).
    extra: dict = field(default_factory=lambda: {"architectures": ["DreamModel"]})

    @classmethod
    def from_dict(cls, config: dict, source: str = "config") -> "DreamConfig":
        names = {f.name for f in fields(cls)} - {"extra"}
        if config.get("model_type", "Dream") not in ("Dream", "dream"):
            raise ValueError(f"{source}: model_type {config.get('model_type')!r} is not 'Dream'")
        cfg = cls(**{k: v for k, v in config.items() if k in names},
                  extra={k: v for k, v in config.items() if k not in names and k != "model_type"})
        for key, want in _REQUIRED.items():
            if key in cfg.extra and cfg.extra[key] != want:
                raise ValueError(f"{source}: {key}={cfg.extra[key]!r} is not supported (only {want!r})")
        if cfg.hidden_size % cfg.num_attention_heads or cfg.num_attention_heads % cfg.num_key_value_heads:
            raise ValueError(f"{source}: hidden_size {cfg.hidden_size}, num_attention_heads "
                             f"{cfg.num_attention_heads} and num_key_value_heads {cfg.num_key_value_heads} "
                             f"do not divide evenly")
        return cfg

    def to_dict(self) -> dict:
        config = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**self.extra, **config, "model_type": "Dream"}


class DreamAttention(nn.Module):
    def __init__(self, cfg: DreamConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
        kv_dim = cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads)
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, kv_dim, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, kv_dim, bias=True)
        self.o_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        att = attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.n_heads, self.n_kv_heads, cos, sin, mask)
        return self.o_proj(att)


class DreamMLP(nn.Module):
    def __init__(self, cfg: DreamConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, self.gate_proj, self.up_proj, self.down_proj)


class DreamLayer(nn.Module):
    def __init__(self, cfg: DreamConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = DreamAttention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = DreamMLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class DreamNetwork(nn.Module):
    """Root whose state-dict names are Qwen2's: ``model.*`` and ``lm_head`` (absent when tied)."""

    def __init__(self, cfg: DreamConfig):
        super().__init__()
        self.config = cfg
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.model.layers = nn.ModuleList(DreamLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.model.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor) -> torch.Tensor:
        m, cfg = self.model, self.config
        x = m.embed_tokens(input_ids)
        cos, sin = rotary_cos_sin(position_ids, cfg.hidden_size // cfg.num_attention_heads, cfg.rope_theta)
        mask = key_padding_mask(attention_mask)
        for layer in m.layers:
            x = layer(x, cos, sin, mask)
        x = m.norm(x)
        return F.linear(x, m.embed_tokens.weight) if cfg.tie_word_embeddings else self.lm_head(x)


class DreamAdapter(ModelAdapter):
    family = "dream"
    kind = "mdm"
    shift = 1
    decoder = "dream"
    edit_module_template = "model.layers.{}.mlp.down_proj"
    layer_module_template = "model.layers.{}"
    mlp_module_template = "model.layers.{}.mlp"
    attn_module_template = "model.layers.{}.self_attn"
    embed_module_name = "model.embed_tokens"
    head_module_name = "lm_head"

    def __init__(self, network: DreamNetwork):
        cfg = network.config
        super().__init__(network, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size,
                         mask_token_id=cfg.mask_token_id, pad_token_id=cfg.pad_token_id,
                         eos_token_id=cfg.eos_token_id)

    @property
    def config(self) -> DreamConfig:
        return self.network.config

    @classmethod
    def from_config(cls, **config) -> "DreamAdapter":
        """A randomly initialised model; keyword arguments are Dream config.json keys."""
        network = DreamNetwork(DreamConfig.from_dict(config))
        init_weights(network)
        return cls(network)

    @classmethod
    def from_arm(cls, arm: ModelAdapter, mask_token_id: int) -> "DreamAdapter":
        """A Dream model holding a copy of an ARM adapter's weights (how Dream was initialised).

        Qwen2ForCausalLM's tensor names are Dream's. A LLaMA ARM maps onto the same layout: its
        attention has no q/k/v biases, which Dream's format always holds, so they are written as
        zeros (the same function); LLaMA options Dream lacks (o_proj or MLP biases, a head size
        other than hidden / heads) are refused. The copy keeps later edits of either apart.
        """
        q = arm.network.config
        rope = getattr(q, "rope_parameters", None) or {"rope_theta": getattr(q, "rope_theta", 10000.0)}
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"from_arm: rope_type {rope['rope_type']!r} is not supported")
        for option in ("attention_bias", "mlp_bias"):
            if getattr(q, option, False):
                raise ValueError(f"from_arm: {option}=True has no place in Dream's format")
        if getattr(q, "head_dim", None) not in (None, q.hidden_size // q.num_attention_heads):
            raise ValueError(f"from_arm: head_dim {q.head_dim} is not hidden_size / num_attention_heads")
        cfg = DreamConfig(
            hidden_size=q.hidden_size, intermediate_size=q.intermediate_size,
            num_hidden_layers=q.num_hidden_layers, num_attention_heads=q.num_attention_heads,
            num_key_value_heads=q.num_key_value_heads, vocab_size=q.vocab_size, rms_norm_eps=q.rms_norm_eps,
            rope_theta=rope["rope_theta"], tie_word_embeddings=bool(q.tie_word_embeddings),
            max_position_embeddings=q.max_position_embeddings, mask_token_id=mask_token_id,
            pad_token_id=arm.pad_token_id, bos_token_id=q.bos_token_id, eos_token_id=q.eos_token_id)
        state = {k: v.detach().clone() for k, v in arm.network.state_dict().items()
                 if not (cfg.tie_word_embeddings and k == "lm_head.weight")}
        with torch.device("meta"):
            network = DreamNetwork(cfg)
        for name, param in network.state_dict().items():
            if name.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias")) and name not in state:
                state[name] = torch.zeros(param.shape, dtype=state[name[:-4] + "weight"].dtype)
        load_state_strict(network, state, f"<{type(arm).__name__} state dict>")
        return cls(network.train(arm.training))

    # The fact world's dream is made from its qwen model; the name says so where it is used.
    from_qwen = from_arm

    def _network_logits(self, input_ids, attention_mask, position_ids):
        return self.network(input_ids, attention_mask, position_ids)

    def save(self, path: str | Path) -> None:
        save_network(self.network, self.config.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "DreamAdapter":
        cfg = DreamConfig.from_dict(read_config(path), source=str(Path(path) / "config.json"))
        return cls(load_network(path, lambda: DreamNetwork(cfg), dtype).eval())
