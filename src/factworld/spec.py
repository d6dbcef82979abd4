"""What the fact world's four models are built from (world, tokenizer, shape, budget) and its configs."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from jsonargparse import ArgumentParser, set_parsing_settings

from src.config_path import resolve_config

from .text import TextForm
from .world import WorldConfig

DEFAULT_CONFIG = "factworld.yaml"
# Fields added after caches existed, with their defaults: hashed only when changed, so that
# existing caches keep their folders.
WORLD_HASHED_WHEN_CHANGED = {"name_words": 2}
HASHED_WHEN_CHANGED = {"arm_loss": "object", "mdm_loss": "object", "text": "sentences", "biographies": 8,
                       "dream_epochs": None, "grad_clip": None, "mdm_tie_copies": False,
                       "mdm_weighting": "elbo", "mdm_full_mask_prob": 0.0, "optimizer": "adamw", "muon_lr": 0.02}


@dataclass
class FactWorldSpec:
    """Everything the cached world, tokenizer and four models depend on (and nothing else)."""

    world: WorldConfig = field(default_factory=WorldConfig)
    """The generated fact world."""
    vocab_size: int = 256
    """Most tokens the world's BPE tokenizer may have (special tokens included)."""
    hidden_size: int = 128
    """Model width, the same for all four families."""
    num_layers: int = 4
    """Transformer layers (subject-position edits want 4 to 8)."""
    num_heads: int = 4
    """Attention heads (no grouped-query attention: key/value heads = heads)."""
    mlp_size: int = 512
    """Hidden size of the gated MLP (the edit matrix's input dimension)."""
    arm_epochs: int = 20
    """Passes over every sentence for llama and qwen (next-token loss)."""
    mdm_epochs: int = 45
    """Masked-diffusion passes for llada (from scratch) and dream (on top of the trained qwen);
    MDMs need about twice the ARM's."""
    dream_epochs: int | None = None
    """Masked-diffusion passes for dream alone (None: ``mdm_epochs``); it starts from a qwen that
    already holds the facts, so it may need fewer than llada from scratch."""
    lr: float = 7e-4
    """Peak AdamW learning rate (linear warm-up, cosine decay); MDMs learnt slower at 3e-3."""
    optimizer: Literal["adamw", "muon"] = "adamw"
    """AdamW on every weight, or Muon on the transformer blocks' matrices with AdamW (``lr``) on
    the embeddings, head and norms: llada then recalls its facts in 20 epochs instead of 35-45."""
    muon_lr: float = 0.02
    """Muon's peak learning rate (with ``optimizer: muon``; same schedule as ``lr``)."""
    grad_clip: float | None = None
    """Clip each step's gradient to this global norm (None: no clipping)."""
    batch_size: int = 128
    """Sentences per optimiser step."""
    eos_prob: float = 0.1
    """Share of training sentences whose object is followed by EOS. MDMs learn much slower
    with many: the mask count then no longer tells the object's length."""
    seed: int = 0
    """Seed of the initial weights and the batch order (the world has its own seed)."""
    arm_loss: Literal["object", "sequence"] = "object"
    """Tokens the ARMs' next-token loss covers: the objects only, or every token after the first
    (a whole-text language model)."""
    mdm_loss: Literal["object", "sequence"] = "object"
    """Tokens the MDMs' masking draws from: the objects only, or every token (as LLaDA and Dream
    pretrain)."""
    mdm_tie_copies: bool = False
    """Mask an object token together with its copies in the same sample (a tagged biography names
    each object in its tag line and in its sentence), so the MDMs recall masked objects instead
    of copying them from their other mention."""
    mdm_weighting: Literal["elbo", "mean"] = "elbo"
    """The MDMs' loss per masked token: weighted by G/k (the masked-diffusion bound, LLaDA's) or
    the plain mean over masked tokens."""
    mdm_full_mask_prob: float = 0.0
    """Share of MDM training rows with every loss token masked (the state recall decodes from)."""
    text: TextForm = "sentences"
    """Pretraining samples: one fact sentence each, or those plus biographies (several facts of
    one subject per sample, shuffled, random templates; ``src.factworld.text``)."""
    biographies: int = 8
    """Biographies per subject with ``text: biography``."""

    def spec_hash(self) -> str:
        """Short stable hash naming the cache folder: equal specs share one."""
        fields = asdict(self)
        for group, defaults in ((fields, HASHED_WHEN_CHANGED), (fields["world"], WORLD_HASHED_WHEN_CHANGED)):
            for name, default in defaults.items():
                if group[name] == default:
                    del group[name]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def spec_parser(**kwargs) -> ArgumentParser:
    """A parser whose root arguments are the spec's fields (field docstrings become the help)."""
    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(**kwargs)
    parser.add_class_arguments(FactWorldSpec, None, as_group=False)
    return parser


def spec_from(parser: ArgumentParser, cfg) -> FactWorldSpec:
    """The spec held in a namespace parsed by (an extension of) ``spec_parser``."""
    init = parser.instantiate_classes(cfg)
    return FactWorldSpec(**{name: init[name] for name in FactWorldSpec.__dataclass_fields__})


def load_spec(name: str = DEFAULT_CONFIG) -> FactWorldSpec:
    """The spec a config file describes (fields it leaves out keep their defaults)."""
    parser = spec_parser()
    return spec_from(parser, parser.parse_path(str(resolve_config(name, "pretrain"))))
