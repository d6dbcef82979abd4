"""Efficacy, generalisation and specificity per target length, global over DDP ranks."""
from __future__ import annotations

import lightning as L
import torch

from src.evaluation.per_length import PerLengthRate, format_table
from src.reporting.labels import run_title

MEASURES = ("efficacy", "generalisation", "specificity")


class EfficacyPerLength(L.Callback):
    """Feeds each measured edit into one ``PerLengthRate`` per measure; their sum-reduced
    states make the table global when the run ends. Logs ``<measure>/N=<n>`` and prints it."""

    def __init__(self, max_length: int = 8):
        """
        Args:
            max_length: longest target length with its own row (longer ones share the last).
        """
        self.max_length = max_length
        self.metrics = {m: PerLengthRate(max_length) for m in MEASURES}
        self.table: dict[str, dict[int, float]] = {}
        self.counts: dict[int, int] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        # The states are all-reduced at the end, and NCCL reduces only tensors on the rank's device.
        for metric in self.metrics.values():
            metric.to(pl_module.device)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not outputs or not outputs.get("outcomes"):
            return
        for measure, metric in self.metrics.items():
            rows = [r for r in outputs["outcomes"] if r["status"] == "ok" and r.get(measure) is not None]
            if rows:
                metric.update(torch.tensor([r["target_length"] for r in rows]),
                              torch.tensor([float(r[measure]) for r in rows]))
                pl_module.log(f"running/{measure}", sum(float(r[measure]) for r in rows) / len(rows),
                              batch_size=len(rows))

    def on_train_end(self, trainer, pl_module) -> None:
        # compute() all-reduces the states; every rank must call it.
        self.table = {m: metric.compute() for m, metric in self.metrics.items()}
        with self.metrics["efficacy"].sync_context():
            self.counts = self.metrics["efficacy"].counts()
        if trainer.global_rank != 0:
            return
        writer = getattr(trainer.logger, "experiment", None) if trainer.logger else None
        for measure, per_length in self.table.items():
            for n, value in per_length.items():
                if writer is not None:
                    writer.add_scalar(f"{measure}/N={n}", value, 0)
        print(f"\n{run_title(trainer, pl_module)}, this run (all ranks):")
        print(format_table(self.table, self.counts, self.max_length))
