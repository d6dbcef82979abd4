"""Autoregressive families served by transformers' own classes from a local Hugging Face folder."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import PretrainedConfig, PreTrainedModel

from .base import ModelAdapter


class HFCausalAdapter(ModelAdapter):
    """Shared by the LLaMA and Qwen adapters; a subclass names its transformers classes."""

    kind = "arm"
    shift = 1
    decoder = "arm_greedy"
    edit_module_template = "model.layers.{}.mlp.down_proj"
    layer_module_template = "model.layers.{}"
    mlp_module_template = "model.layers.{}.mlp"
    attn_module_template = "model.layers.{}.self_attn"
    embed_module_name = "model.embed_tokens"
    head_module_name = "lm_head"
    config_class: type[PretrainedConfig]
    model_class: type[PreTrainedModel]

    def __init__(self, network: PreTrainedModel):
        cfg = network.config
        super().__init__(network, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size,
                         mask_token_id=getattr(cfg, "mask_token_id", None),
                         pad_token_id=cfg.pad_token_id if cfg.pad_token_id is not None else 0,
                         eos_token_id=cfg.eos_token_id)

    @classmethod
    def from_config(cls, **config) -> "HFCausalAdapter":
        return cls(cls.model_class(cls.config_class(**config)))

    def _network_logits(self, input_ids, attention_mask, position_ids):
        return self.network(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids, use_cache=False).logits

    def save(self, path: str | Path) -> None:
        self.network.save_pretrained(str(path), safe_serialization=True)

    @classmethod
    def load(cls, path: str | Path, dtype: torch.dtype = torch.float32) -> "HFCausalAdapter":
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: no config.json, not a Hugging Face checkpoint folder")
        network, info = cls.model_class.from_pretrained(str(path), dtype=dtype, local_files_only=True,
                                                        output_loading_info=True)
        # transformers only warns about these; a half-loaded checkpoint must not edit silently.
        for problem in ("missing_keys", "unexpected_keys", "mismatched_keys"):
            if info.get(problem):
                raise ValueError(f"{path}: {problem.replace('_', ' ')} in the weights: {sorted(info[problem])[:5]}")
        return cls(network.eval())
