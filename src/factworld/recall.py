"""Recall: does a model reproduce its world's facts exactly with its own decoder?"""
from __future__ import annotations

from collections import defaultdict

import torch
from transformers import PreTrainedTokenizerBase

from src.models.base import ModelAdapter
from src.models.decoding import generate
from src.models.padding import left_pad

from .tokens import encode_sentences
from .world import World


@torch.no_grad()
def measure_recall(adapter: ModelAdapter, tokenizer: PreTrainedTokenizerBase, world: World,
                   batch_size: int = 256, seed: int = 0) -> dict:
    """Exact-match rate over every (fact, template) sentence, overall and per object length.

    Prompts of one object length N are decoded together, ``gen_length`` = N (MDMs: ``steps`` = N,
    one token committed per step); ``seed`` fixes the random reveal order of Dream's sampler.
    Returns ``{"recall", "n", "by_length": {N: rate}, "n_by_length": {N: count}}``.
    """
    groups: dict[int, list[tuple[list[int], list[int]]]] = defaultdict(list)
    for prompt, target in encode_sentences(world, tokenizer):
        groups[len(target)].append((prompt, target))
    options = {"generator": torch.Generator().manual_seed(seed)} if adapter.kind == "mdm" else {}
    was_training = adapter.training
    adapter.eval()
    hits: dict[int, int] = {}
    for length, pairs in sorted(groups.items()):
        hits[length] = 0
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            ids, mask = left_pad([p for p, _ in chunk], adapter.pad_token_id)
            out = generate(adapter, ids, mask, gen_length=length, **options).tokens
            hits[length] += int((out == torch.tensor([t for _, t in chunk])).all(dim=1).sum())
    adapter.train(was_training)
    total = sum(len(pairs) for pairs in groups.values())
    return {"recall": sum(hits.values()) / total, "n": total,
            "by_length": {n: hits[n] / len(groups[n]) for n in hits},
            "n_by_length": {n: len(groups[n]) for n in hits}}
