"""Model families: one adapter each, picked from a checkpoint folder's ``config.json``."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from .base import ModelAdapter
from .checkpoint import check_weights, read_config
from .dream import DreamAdapter
from .llada import LLaDAAdapter
from .llama import LlamaAdapter
from .qwen import QwenAdapter

FAMILIES: dict[str, type[ModelAdapter]] = {
    "llama": LlamaAdapter, "qwen": QwenAdapter, "llada": LLaDAAdapter, "dream": DreamAdapter,
}
log = logging.getLogger(__name__)
# config.json "model_type" of each family's own checkpoint format.
MODEL_TYPES = {"llama": "llama", "qwen2": "qwen", "llada": "llada", "Dream": "dream", "dream": "dream"}


def family_of(path: str | Path) -> str:
    model_type = read_config(path).get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"{Path(path) / 'config.json'}: unknown model_type {model_type!r}; "
                         f"known: {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[model_type]


def max_positions(path: str | Path) -> int | None:
    """Positions the checkpoint was built for (config.json), None where it does not say."""
    config = read_config(path)
    return config.get("max_position_embeddings") or config.get("max_sequence_length")


def load_model(path: str | Path, dtype: torch.dtype = torch.float32) -> ModelAdapter:
    """Load any family's checkpoint folder in its own format. Its weight files are checked
    first, so a damaged one is named whichever library reads it; remote code never runs."""
    family = family_of(path)
    config = read_config(path)
    if "auto_map" in config or config.get("trust_remote_code"):
        log.warning("%s names remote code (auto_map / trust_remote_code); none runs: loaded as a %s "
                    "checkpoint by this project's own loader", Path(path) / "config.json", family)
    check_weights(path)
    return FAMILIES[family].load(path, dtype=dtype).eval()


def load_tokenizer(path: str | Path):
    """The tokenizer saved beside the weights (a Hugging Face tokenizer folder).

    A folder whose ``tokenizer_config.json`` names the generic fast class keeps exactly its
    ``tokenizer.json``: AutoTokenizer would otherwise pick the class of the config's
    ``model_type`` (Qwen2Tokenizer for qwen2) and rebuild the pre-tokenizer, changing ids.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path) / "tokenizer_config.json"
    declared = json.loads(config.read_text()).get("tokenizer_class") if config.exists() else None
    if declared in GENERIC_TOKENIZER_CLASSES:
        return PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


GENERIC_TOKENIZER_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}


__all__ = ["ModelAdapter", "FAMILIES", "family_of", "load_model", "load_tokenizer",
           "LlamaAdapter", "QwenAdapter", "LLaDAAdapter", "DreamAdapter"]
