"""Multi-token efficacy, the study's measure: does the model's own decoder, asked for exactly N
tokens after the prompt, produce the N-token object? With ``extra_length`` k it is asked for
N + k tokens and must produce the object followed by end-of-text (the answer ends there; what
follows end-of-text is not read)."""
from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Sequence

import torch

from src.models.base import ModelAdapter
from src.models.decoding import DECODERS, decoder_options, generate
from src.models.padding import left_pad

from .probability import model_device

# Fixed options, or options as a function of the object length N (e.g. steps=N).
DecoderKwargs = Mapping[str, Any] | Callable[[int], Mapping[str, Any]]


def row_seed(seed: int, *names: object) -> int:
    """A decode seed for one prompt from a run's ``seed`` and names that identify the prompt
    (an edit's case_id, the prompt's kind and index): stable across processes and batches."""
    return zlib.crc32("|".join(map(str, (seed, *names))).encode())


@torch.no_grad()
def exact_match(adapter: ModelAdapter, prompt_ids_list: Sequence[Sequence[int]],
                object_ids_list: Sequence[Sequence[int]], decoder_kwargs: DecoderKwargs | None = None,
                batch_size: int = 64, row_seeds: Sequence[int] | None = None) -> tuple[list[bool], list[list[int]]]:
    """(hit per pair, generated tokens per pair), in input order.

    Pairs are grouped by object length N (one ``gen_length`` per batch) and decoded in batches
    of at most ``batch_size``; ``generate`` defaults MDM steps to gen_length. The options are
    the decoder's, plus ``extra_length`` (default 0): gen_length = N + extra_length, and a hit
    also needs the adapter's end-of-text token at position N.

    ``row_seeds`` (one per pair) seed a generator per pair for a sampler that draws (Dream's
    ``origin`` order, sampling at temperature > 0): each pair then decodes the same whichever
    pairs share its batch, and a rerun reproduces it whatever ran before.
    """
    if len(prompt_ids_list) != len(object_ids_list):
        raise ValueError(f"{len(prompt_ids_list)} prompts but {len(object_ids_list)} objects")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if row_seeds is not None and len(row_seeds) != len(prompt_ids_list):
        raise ValueError(f"{len(row_seeds)} row seeds for {len(prompt_ids_list)} prompts")
    draws = "generator" in decoder_options(DECODERS[adapter.decoder]) if adapter.decoder in DECODERS else False
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, obj in enumerate(object_ids_list):
        by_length[len(obj)].append(index)
    generated: list[list[int]] = [[] for _ in object_ids_list]
    hits = [False] * len(object_ids_list)
    device = model_device(adapter)
    for length, indices in sorted(by_length.items()):
        kwargs = dict(decoder_kwargs(length) if callable(decoder_kwargs) else decoder_kwargs or {})
        extra = kwargs.pop("extra_length", 0)
        if extra < 0 or (extra and adapter.eos_token_id is None):
            raise ValueError(f"extra_length={extra} needs to be >= 0 and the model to have an end-of-text token "
                             f"(eos_token_id={adapter.eos_token_id})")
        if row_seeds is not None and "generator" in kwargs:
            raise ValueError("give the decoder a generator or exact_match row_seeds, not both")
        ending = [adapter.eos_token_id] if extra else []
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            ids, mask = left_pad([prompt_ids_list[i] for i in chunk], adapter.pad_token_id, device)
            if row_seeds is not None and draws:
                kwargs["generator"] = [torch.Generator().manual_seed(row_seeds[i]) for i in chunk]
            tokens = generate(adapter, ids, mask, length + extra, **kwargs).tokens.tolist()
            for index, row in zip(chunk, tokens):
                generated[index] = row
                hits[index] = row[:length + len(ending)] == list(object_ids_list[index]) + ending
    return hits, generated
