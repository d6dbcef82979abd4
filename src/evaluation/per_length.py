"""Rates grouped by object length in tokens, summed across processes, and their table."""
from __future__ import annotations

import torch
from torchmetrics import Metric


class PerLengthRate(Metric):
    """Mean of per-example values in [0, 1] (hits, or soft scores) per object length.

    Bucket ``max_length`` holds every length >= ``max_length`` (printed "max+").
    """

    full_state_update = False
    hits: torch.Tensor
    totals: torch.Tensor

    def __init__(self, max_length: int = 8, **kwargs):
        super().__init__(**kwargs)
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.max_length = max_length
        self.add_state("hits", torch.zeros(max_length + 1, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("totals", torch.zeros(max_length + 1, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, lengths: torch.Tensor, values: torch.Tensor) -> None:
        lengths, values = torch.as_tensor(lengths), torch.as_tensor(values)
        if lengths.shape != values.shape:
            raise ValueError(f"lengths shape {tuple(lengths.shape)} differs from values shape "
                             f"{tuple(values.shape)}")
        if (lengths < 0).any():
            raise ValueError("lengths must be non-negative")
        bucket = lengths.to(self.hits.device).long().clamp(max=self.max_length).flatten()
        self.hits.index_add_(0, bucket, values.to(self.hits).flatten())
        self.totals.index_add_(0, bucket, torch.ones_like(bucket))

    def compute(self) -> dict[int, float]:
        return {n: (self.hits[n] / self.totals[n]).item() for n in self._seen()}

    def counts(self) -> dict[int, int]:
        return {n: int(self.totals[n]) for n in self._seen()}

    def _seen(self) -> list[int]:
        return self.totals.nonzero().flatten().tolist()


def format_table(tables: dict[str, dict[int, float]], counts: dict[int, int],
                 max_length: int | None = None) -> str:
    """One row per length, one column per table (in %, "-" where missing) and n; the row of
    ``max_length`` is labelled "max_length+"."""
    lengths = sorted(set(counts).union(*tables.values()))
    header = ["N", *tables, "n"]
    rows = [[f"{n}+" if n == max_length else str(n),
             *(f"{100 * t[n]:.1f}" if n in t else "-" for t in tables.values()),
             str(counts.get(n, 0))] for n in lengths]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header, *rows])
