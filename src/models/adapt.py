"""Dream's recipe for any ARM: copy the weights into a bidirectional network, keep the next-token
head (so position i predicts token i+1: Dream's shift) and train with the masked-diffusion loss.

The pieces ``src.adapt`` puts together: ``mask_token`` (the tokenizer's [MASK], added with one
new embedding row when the ARM has none), ``dream_from_arm``, ``adaptation_texts`` (user text
plus text the ARM writes itself, to keep what it knows), ``TextBlocks`` (token blocks of one
length) and the loss, ``MDMObjective`` of the fact world's pretraining over whole blocks.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from .base import ModelAdapter
from .decoding import arm_greedy
from .dream import DreamAdapter
from .padding import left_pad

MASK_TOKEN = "<|mask|>"


def mask_token(arm: ModelAdapter, tokenizer: PreTrainedTokenizerBase) -> int:
    """The [MASK] id: the tokenizer's own, else a new special token ``<|mask|>`` whose embedding
    row (a new row past the vocabulary, as Dream's [MASK] is) starts at the mean embedding."""
    if tokenizer.mask_token_id is None:
        tokenizer.add_special_tokens({"mask_token": MASK_TOKEN})
    mask_id = tokenizer.mask_token_id
    if mask_id >= arm.network.config.vocab_size:
        arm.network.resize_token_embeddings(mask_id + 1, mean_resizing=True)
    return mask_id


def dream_from_arm(arm: ModelAdapter, tokenizer: PreTrainedTokenizerBase) -> DreamAdapter:
    """Dream's initialisation of ``arm``: its weights in Dream's format, with a [MASK] token."""
    if arm.kind != "arm":
        raise ValueError(f"dream_from_arm: {arm.family} is not an autoregressive model")
    return DreamAdapter.from_arm(arm, mask_token(arm, tokenizer))


@torch.no_grad()
def arm_writes(arm: ModelAdapter, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
               tokens: int, batch_size: int = 16) -> list[str]:
    """Each prompt followed by ``tokens`` greedy tokens of ``arm``: text in the ARM's own words,
    so the MDM is trained on what the ARM answers (its facts) as well as on user text."""
    out = []
    for i in range(0, len(prompts), batch_size):
        chunk = list(prompts[i:i + batch_size])
        ids, mask = left_pad([tokenizer(p)["input_ids"] for p in chunk], arm.pad_token_id)
        generated = arm_greedy(arm, ids, mask, tokens).tokens
        out += [p + tokenizer.decode(g, skip_special_tokens=True) for p, g in zip(chunk, generated.tolist())]
    return out


def text_prompts(texts: Sequence[str], n: int, words: int, seed: int) -> list[str]:
    """``n`` prompts: the first ``words`` words of texts drawn at random (seeded)."""
    if not texts:
        return []
    rng = random.Random(seed)
    return [" ".join(rng.choice(texts).split()[:words]) for _ in range(n)]


class TextBlocks(Dataset):
    """Texts tokenised, joined with end-of-text and cut into blocks of ``length`` tokens (the
    remainder is dropped), as LLM pretraining packs documents."""

    def __init__(self, texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, length: int):
        stream: list[int] = []
        for text in texts:
            stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        n = len(stream) // length
        if n == 0:
            raise ValueError(f"adaptation text: {len(stream)} tokens make no block of {length}; "
                             f"give more text or a shorter seq_len")
        self.blocks = torch.tensor(stream[:n * length]).view(n, length)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.blocks[i]


def collate_blocks(blocks: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """A batch for ``MDMObjective``: every token but the first may be masked and supervised (a
    shifted head has no prediction for position 0)."""
    ids = torch.stack(blocks)
    span = torch.ones_like(ids, dtype=torch.bool)
    span[:, 0] = False
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "span": span}
