"""Random-weight checkpoints shaped like the released 8B models, written without a hub.

    python -m bench.shaped --family llada --layers 2 --out /tmp/llada-8b-L2

Each folder is in its family's own format (LLaDA's and Dream's ``config.json`` and tensor names,
transformers' for LLaMA-3 and Qwen2.5), from the published config at full width with
``--layers`` blocks, bf16 safetensors in shards of about 1 GB (no tensor set is ever held whole,
so a full-width folder is written in about the memory of one shard). The tokenizer beside the
weights is a small BPE trained on local text and widened to the config's ``vocab_size``: its ids
cover every embedding row, and the family's special tokens (mask, end-of-text, begin, pad) sit at
their published ids. Random weights hold no facts: such a folder checks plumbing, memory and
time, not efficacy.
"""
from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedTokenizerFast

from src.models.checkpoint import INDEX_NAME, write_config

# Published configs (GUIDE section 5 and the released config.json files); n_layers is set per folder.
PUBLISHED: dict[str, dict] = {
    "llada": {  # LLaDA-8B-Base
        "model_type": "llada", "d_model": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 32,
        "mlp_hidden_size": 12288, "vocab_size": 126464, "embedding_size": 126464, "mask_token_id": 126336,
        "pad_token_id": 126081, "eos_token_id": 126081, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "weight_tying": False, "include_bias": False, "block_type": "llama", "max_sequence_length": 4096},
    "dream": {  # Dream-v0-Base-7B (Qwen2.5-7B shapes, GQA 28 / 4 heads)
        "model_type": "Dream", "architectures": ["DreamModel"], "hidden_size": 3584,
        "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
        "num_key_value_heads": 4, "vocab_size": 152064, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": False, "max_position_embeddings": 131072, "mask_token_id": 151666,
        "pad_token_id": 151643, "bos_token_id": 151665, "eos_token_id": 151643, "hidden_act": "silu"},
    "llama": {  # Meta-Llama-3-8B
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "vocab_size": 128256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "max_position_embeddings": 8192, "bos_token_id": 128000, "eos_token_id": 128001,
        "tie_word_embeddings": False, "hidden_act": "silu"},
    "qwen": {  # Qwen2.5-7B
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 3584,
        "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
        "num_key_value_heads": 4, "vocab_size": 152064, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "max_position_embeddings": 131072, "bos_token_id": 151643, "eos_token_id": 151643,
        "tie_word_embeddings": False, "hidden_act": "silu", "use_sliding_window": False},
}
LAYER_KEY = {"llada": "n_layers", "dream": "num_hidden_layers", "llama": "num_hidden_layers",
             "qwen": "num_hidden_layers"}
SHARD_BYTES = 1 << 30
BASE_VOCAB = 8192


def shaped_config(family: str, layers: int, overrides: dict | None = None) -> dict:
    """The published config of ``family`` with ``layers`` blocks (and any ``overrides``, e.g. a
    tiny width for tests)."""
    if family not in PUBLISHED:
        raise ValueError(f"family {family!r}: choose from {sorted(PUBLISHED)}")
    return {**PUBLISHED[family], LAYER_KEY[family]: layers, **(overrides or {})}


def _meta_network(family: str, config: dict) -> nn.Module:
    """The family's network on the meta device: its tensor names and shapes, no storage."""
    with torch.device("meta"):
        if family == "llada":
            from src.models.llada import LLaDAConfig, LLaDANetwork
            return LLaDANetwork(LLaDAConfig.from_dict(config))
        if family == "dream":
            from src.models.dream import DreamConfig, DreamNetwork
            return DreamNetwork(DreamConfig.from_dict(config))
        from src.models import FAMILIES
        adapter = FAMILIES[family]
        hf = {k: v for k, v in config.items() if k != "model_type"}
        return adapter.model_class(adapter.config_class(**hf))


def _random(name: str, shape: torch.Size, seed: int) -> torch.Tensor:
    """Norm weights 1, biases 0, every other tensor N(0, 0.02) as the families' initialisers;
    seeded per tensor so a folder does not depend on the order tensors are written in."""
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=torch.bfloat16)
    if len(shape) == 1:
        return torch.ones(shape, dtype=torch.bfloat16)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    return torch.empty(shape, dtype=torch.bfloat16).normal_(0.0, 0.02, generator=generator)


def write_weights(network: nn.Module, folder: Path, seed: int) -> int:
    """bf16 shards of at most ``SHARD_BYTES`` (a larger tensor gets its own) and their index;
    returns the total bytes."""
    shapes = {k: v.shape for k, v in network.state_dict().items()}
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = shape.numel() * 2
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    weight_map, total = {}, 0
    for i, names in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {name: _random(name, shapes[name], seed) for name in names}
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        total += sum(t.numel() * 2 for t in tensors.values())
        weight_map.update(dict.fromkeys(names, file))
        del tensors
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map},
                                                indent=2) + "\n")
    return total


def special_ids(family: str, config: dict) -> dict[str, int]:
    """The family's special tokens at the config's ids (end-of-text doubles as pad where the
    config says so, or where it names no pad)."""
    from src.factworld.tokenizer import BOS, EOS, MASK, PAD

    ids = {EOS: config["eos_token_id"]}
    if config.get("bos_token_id") is not None and config["bos_token_id"] != config["eos_token_id"]:
        ids[BOS] = config["bos_token_id"]
    if config.get("mask_token_id") is not None:
        ids[MASK] = config["mask_token_id"]
    pad = config.get("pad_token_id")
    if pad is not None and pad not in ids.values():
        ids[PAD] = pad
    return ids


def widen(tokenizer: PreTrainedTokenizerFast, vocab_size: int, specials: dict[str, int]) -> PreTrainedTokenizerFast:
    """``tokenizer`` (a trained BPE) with exactly ``vocab_size`` ids: its learned tokens keep
    their ids, ``specials`` move to the given ids, and every other id is a reserved token the
    BPE never produces."""
    from src.factworld.tokenizer import BOS, EOS, MASK, PAD, UNK
    from tokenizers import Tokenizer

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    learned = spec["model"]["vocab"]
    old_specials = {t["content"] for t in spec["added_tokens"]}
    specials = {**specials, UNK: learned[UNK]}
    names = [f"<|reserved_{i}|>" for i in range(vocab_size)]
    for token, i in learned.items():
        if token not in old_specials:
            names[i] = token
    for token, i in specials.items():
        if not 0 <= i < vocab_size or (names[i] in learned and names[i] not in old_specials):
            raise ValueError(f"special token {token} at id {i}: outside the vocabulary of {vocab_size} "
                             f"or on a learned token (base vocabulary {len(learned)})")
        names[i] = token
    spec["model"]["vocab"] = {token: i for i, token in enumerate(names)}
    spec["added_tokens"] = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for t, i in sorted(specials.items(), key=lambda x: x[1])]
    named = {"unk_token": UNK, "eos_token": EOS}
    named["pad_token"] = PAD if PAD in specials else EOS
    if BOS in specials:
        named["bos_token"] = BOS
    if MASK in specials:
        named["mask_token"] = MASK
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), **named)


def local_texts(n: int = 3000) -> list[str]:
    """Text to train the tokenizer on: the local Wikipedia sample (under $KE_DATA_ROOT)."""
    from src.data.corpus import load_texts

    return load_texts("wikitext", n)


def write_shaped(family: str, layers: int, out: str | Path, seed: int = 0, overrides: dict | None = None,
                 texts: list[str] | None = None) -> Path:
    """Writes config.json, bf16 weight shards and the widened tokenizer to ``out``; returns it."""
    from src.factworld.tokenizer import train_tokenizer

    config = shaped_config(family, layers, overrides)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    network = _meta_network(family, config)
    if family in ("llada", "dream"):
        write_config(network.config.to_dict(), folder)
    else:
        network.config.dtype = torch.bfloat16
        network.config.save_pretrained(str(folder))
    write_weights(network, folder, seed)
    base = train_tokenizer(texts if texts is not None else local_texts(),
                           vocab_size=min(BASE_VOCAB, config["vocab_size"] // 2))
    widen(base, config["vocab_size"], special_ids(family, config)).save_pretrained(str(folder))
    return folder


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, choices=sorted(PUBLISHED))
    parser.add_argument("--layers", type=int, required=True, help="blocks to keep (the published depth for all)")
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help="seeds every tensor (with its name)")
    parser.add_argument("--overrides", default="{}", help="JSON of config keys to change, e.g. a smaller width")
    args = parser.parse_args(argv)
    folder = write_shaped(args.family, args.layers, args.out, args.seed, json.loads(args.overrides))
    print(f"wrote {folder}")
    return folder


if __name__ == "__main__":
    main()
