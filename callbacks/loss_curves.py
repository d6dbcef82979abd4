"""Edit loss curves in TensorBoard: every edit's curve, and the mean curve per target length
(summed over all DDP ranks), also saved as ``loss_curves.png`` in the log folder."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


class LossCurves(L.Callback):
    """Logs ``edit_loss/N=<n>/<case>`` per edit and ``edit_loss_mean/N=<n>`` per length."""

    def __init__(self, max_length: int = 16, per_edit: bool = True):
        """
        Args:
            max_length: longest target length given its own mean curve (longer ones join it).
            per_edit: also log each edit's own curve (many tags on large runs).
        """
        self.max_length, self.per_edit = max_length, per_edit
        self.sums: torch.Tensor | None = None
        self.counts: torch.Tensor | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        # Trainer.log_dir is a collective under DDP: read it on every rank, once.
        self.folder = Path(trainer.log_dir or trainer.default_root_dir)

    def _writer(self, trainer):
        logger = trainer.logger
        return getattr(logger, "experiment", None) if logger is not None else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not outputs or not outputs.get("outcomes"):
            return
        steps = trainer.datamodule.hparams.steps
        if self.sums is None:
            self.sums = torch.zeros(self.max_length + 1, steps, dtype=torch.float64)
            self.counts = torch.zeros(self.max_length + 1, 1, dtype=torch.float64)
        writer = self._writer(trainer)
        for rec in outputs["outcomes"]:
            trace = rec["loss_trace"]
            if not trace:
                continue
            n = min(rec["target_length"], self.max_length)
            # An edit that stopped early holds its last loss for the remaining steps.
            padded = torch.tensor(trace + [trace[-1]] * (steps - len(trace)), dtype=torch.float64)[:steps]
            self.sums[n] += padded
            self.counts[n] += 1
            if self.per_edit and writer is not None:
                for t, value in enumerate(trace):
                    writer.add_scalar(f"edit_loss/N={n}/{rec['case_id']}", value, t)

    def on_train_end(self, trainer, pl_module) -> None:
        steps = trainer.datamodule.hparams.steps
        sums = self.sums if self.sums is not None else torch.zeros(self.max_length + 1, steps, dtype=torch.float64)
        counts = self.counts if self.counts is not None else torch.zeros(self.max_length + 1, 1, dtype=torch.float64)
        # NCCL reduces only tensors on the rank's own device.
        device = trainer.strategy.root_device
        sums = trainer.strategy.reduce(sums.to(device, copy=True), reduce_op="sum").cpu()
        counts = trainer.strategy.reduce(counts.to(device, copy=True), reduce_op="sum").cpu()
        if trainer.global_rank != 0:
            return
        writer = self._writer(trainer)
        fig, ax = plt.subplots(figsize=(6, 4))
        for n in range(self.max_length + 1):
            if counts[n, 0] == 0:
                continue
            mean = (sums[n] / counts[n, 0]).tolist()
            ax.plot(mean, label=f"N={n}" + ("+" if n == self.max_length else ""))
            if writer is not None:
                for t, value in enumerate(mean):
                    writer.add_scalar(f"edit_loss_mean/N={n}", value, t)
        ax.set(xlabel="optimisation step", ylabel="mean edit loss", yscale="log",
               title=f"{type(pl_module).__name__} on {pl_module.adapter.family}")
        ax.legend()
        fig.savefig(self.folder / "loss_curves.png", dpi=120, bbox_inches="tight")
        if writer is not None:
            writer.add_figure("edit_loss_mean/by_length", fig)
        plt.close(fig)
