"""Pretraining data: a world's samples (``text.training_samples``), tokenised once, batched by length."""
from __future__ import annotations

import random
from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from .text import Sample


class LengthBatches(Sampler[list[int]]):
    """Shuffled batches of similar-length sentences: right padding to the longest row of a random
    batch wastes about a third of the compute on these short sentences.

    Each epoch shuffles all sentences, sorts windows of ``window`` batches by length, cuts them
    into batches and shuffles the batch order, so batches still mix facts from everywhere.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window: int = 16):
        self.lengths, self.batch_size, self.window = lengths, batch_size, window
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        self.rng.shuffle(order)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            window = sorted(order[start:start + span], key=self.lengths.__getitem__)
            batches += [window[i:i + self.batch_size] for i in range(0, len(window), self.batch_size)]
        self.rng.shuffle(batches)
        return iter(batches)


def collate_right(batch: list[Sample], pad_id: int, eos_id: int, eos_prob: float,
                  rng: random.Random, tie_copies: bool = False) -> dict[str, torch.Tensor]:
    """Right-pad rows of prompt+object(+EOS) sentences. ``span`` marks the object tokens.

    EOS separates the sentences of a sample (a pair with an empty prompt continues the one
    before it, as a tag line's objects do), and follows its last object in only some rows, so
    that MDMs learn both "the answer fills the masks" (gen_length = object length) and "the
    answer ends here" (longer gen_length).

    ``group`` [B, L] names, for each token, the position of the first token masked together
    with it: itself, or with ``tie_copies`` the first copy of the same object token in the row
    (a tagged biography names each object twice: in the tag line and in its sentence).
    """
    rows, spans, groups = [], [], []
    for sample in batch:
        row, span, group, first = [], [], [], {}
        for i, (prompt, obj) in enumerate(sample):
            ends_sentence = i == len(sample) - 1 or len(sample[i + 1][0]) > 0
            last = i == len(sample) - 1
            target = list(obj) + ([eos_id] if ends_sentence and (not last or rng.random() < eos_prob) else [])
            group += range(len(row), len(row) + len(prompt))
            row += list(prompt)
            for j, token in enumerate(target):
                key = (tuple(obj), j) if tie_copies and j < len(obj) else len(row)
                group.append(first.setdefault(key, len(row)))
                row.append(token)
            span += [0] * len(prompt) + [1] * len(target)
        rows.append(row)
        spans.append(span)
        groups.append(group)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    span = torch.zeros((len(rows), width), dtype=torch.bool)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    group = torch.arange(width).repeat(len(rows), 1)
    for i, (r, s, g) in enumerate(zip(rows, spans, groups)):
        ids[i, : len(r)] = torch.tensor(r)
        span[i, : len(s)] = torch.tensor(s, dtype=torch.bool)
        attn[i, : len(r)] = 1
        group[i, : len(g)] = torch.tensor(g)
    return {"input_ids": ids, "attention_mask": attn, "span": span, "group": group}


class FactDataModule(L.LightningDataModule):
    """Length-bucketed, shuffled batches of a world's sentences for the pretraining objectives.

    Args: ``samples`` lists of (prompt ids, object ids) sentences; ``pad_id`` / ``eos_id`` the tokenizer's;
    ``batch_size`` sentences per batch; ``eos_prob`` share of rows with EOS after the object;
    ``seed`` of the batch order and the EOS draws; ``tie_copies`` masks an object token
    together with its copies in the sample (``collate_right``).
    """

    def __init__(self, samples: list[Sample], pad_id: int, eos_id: int, batch_size: int = 128,
                 eos_prob: float = 0.1, seed: int = 0, tie_copies: bool = False):
        super().__init__()
        self.samples = samples
        self.pad_id, self.eos_id = pad_id, eos_id
        self.batch_size, self.eos_prob, self.tie_copies = batch_size, eos_prob, tie_copies
        self.rng = random.Random(seed)
        self.sampler = LengthBatches([sum(len(p) + len(o) for p, o in s) for s in samples], batch_size, seed)

    def train_dataloader(self) -> DataLoader:
        # A list is a map-style dataset; the sampler yields whole batches of indices.
        return DataLoader(self.samples, batch_sampler=self.sampler,
                          collate_fn=lambda b: collate_right(b, self.pad_id, self.eos_id,
                                                             self.eos_prob, self.rng, self.tie_copies))
