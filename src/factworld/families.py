"""Fresh models of the four families, all of one shape and one tokenizer (a matched set).

llama, qwen and llada start from random weights; dream starts from a trained qwen model, as
Dream was initialised from Qwen2.5 (``DreamAdapter.from_qwen``).
"""
from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from src.models import DreamAdapter, LLaDAAdapter, LlamaAdapter, ModelAdapter, QwenAdapter

ARM_FAMILIES = ("llama", "qwen")
MDM_FAMILIES = ("llada", "dream")
# Training order: dream is initialised from the trained qwen model.
FAMILY_ORDER = ("llama", "qwen", "llada", "dream")
ROPE_THETA = 10000.0
RMS_EPS = 1e-5
MAX_POSITIONS = 128  # fact-world sentences are under 32 tokens


def new_model(family: str, tokenizer: PreTrainedTokenizerBase, hidden_size: int, num_layers: int,
              num_heads: int, mlp_size: int) -> ModelAdapter:
    """A randomly initialised llama, qwen or llada model over ``tokenizer``'s vocabulary."""
    vocab, pad, eos = len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id
    if family in ARM_FAMILIES:
        # Qwen2's attention always carries q/k/v biases; LLaMA's has none.
        adapter = LlamaAdapter if family == "llama" else QwenAdapter
        return adapter.from_config(
            vocab_size=vocab, hidden_size=hidden_size, intermediate_size=mlp_size,
            num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
            max_position_embeddings=MAX_POSITIONS, rms_norm_eps=RMS_EPS, rope_theta=ROPE_THETA,
            tie_word_embeddings=False, pad_token_id=pad, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=eos)
    if family == "llada":
        return LLaDAAdapter.from_config(
            d_model=hidden_size, n_layers=num_layers, n_heads=num_heads, n_kv_heads=num_heads,
            mlp_hidden_size=mlp_size, vocab_size=vocab, embedding_size=vocab,
            mask_token_id=tokenizer.mask_token_id, pad_token_id=pad, eos_token_id=eos,
            rope_theta=ROPE_THETA, rms_norm_eps=RMS_EPS, weight_tying=False, include_bias=False)
    raise ValueError(f"new_model: unknown family {family!r}; dream comes from dream_from_qwen")


def dream_from_qwen(qwen: ModelAdapter, tokenizer: PreTrainedTokenizerBase) -> DreamAdapter:
    """Dream's initialisation: a copy of the trained qwen model with the tokenizer's [MASK]."""
    return DreamAdapter.from_qwen(qwen, mask_token_id=tokenizer.mask_token_id)
