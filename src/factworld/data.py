"""Pretraining data: every (prompt, object) sentence of a world, tokenised once."""
from __future__ import annotations

import random

import lightning as L
import torch
from torch.utils.data import DataLoader


class FactSentences(torch.utils.data.Dataset):
    """(prompt ids, object ids) pairs; the object span is what both objectives supervise."""

    def __init__(self, pairs: list[tuple[list[int], list[int]]]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.pairs[i]


def collate_right(batch: list[tuple[list[int], list[int]]], pad_id: int, eos_id: int,
                  eos_prob: float, rng: random.Random) -> dict[str, torch.Tensor]:
    """Right-pad prompt+object(+EOS) rows. ``span`` marks the supervised object tokens.

    EOS follows the object in only some rows so that MDMs learn both "the answer fills the
    masks" (gen_length = object length) and "the answer ends here" (longer gen_length).
    """
    rows, spans = [], []
    for prompt, obj in batch:
        target = list(obj) + ([eos_id] if rng.random() < eos_prob else [])
        rows.append(list(prompt) + target)
        spans.append([0] * len(prompt) + [1] * len(target))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    span = torch.zeros((len(rows), width), dtype=torch.bool)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, s) in enumerate(zip(rows, spans)):
        ids[i, : len(r)] = torch.tensor(r)
        span[i, : len(s)] = torch.tensor(s, dtype=torch.bool)
        attn[i, : len(r)] = 1
    return {"input_ids": ids, "attention_mask": attn, "span": span}


class FactDataModule(L.LightningDataModule):
    """Shuffled batches of a world's sentences for the pretraining objectives."""

    def __init__(self, pairs: list[tuple[list[int], list[int]]], pad_id: int, eos_id: int,
                 batch_size: int = 128, eos_prob: float = 0.5, seed: int = 0):
        super().__init__()
        self.dataset = FactSentences(pairs)
        self.pad_id, self.eos_id = pad_id, eos_id
        self.batch_size, self.eos_prob = batch_size, eos_prob
        self.rng = random.Random(seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True,
                          collate_fn=lambda b: collate_right(b, self.pad_id, self.eos_id,
                                                             self.eos_prob, self.rng))
