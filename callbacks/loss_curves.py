"""Edit loss curves in TensorBoard: every edit's curve, and the mean curve per target length
(summed over all DDP ranks), also saved as ``loss_curves.png`` in the log folder.

An edit stops once its loss is low (early stop), so the mean at step t is over the edits still
optimising at t, and the number of those edits is plotted and logged beside it: holding stopped
edits at their last loss would show a mean that no edit followed."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import torch  # noqa: E402

from src.reporting.labels import run_title  # noqa: E402


class LossCurves(L.Callback):
    """Logs ``edit_loss/N=<n>/<case>`` per edit, and per length ``edit_loss_mean/N=<n>`` (mean over
    the edits still running at each step) and ``edits_running/N=<n>``."""

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
            self.counts = torch.zeros(self.max_length + 1, steps, dtype=torch.float64)
        writer = self._writer(trainer)
        for rec in outputs["outcomes"]:
            trace = rec["loss_trace"]
            if not trace:
                continue
            n = min(rec["target_length"], self.max_length)
            ran = min(len(trace), steps)
            self.sums[n, :ran] += torch.tensor(trace[:ran], dtype=torch.float64)
            self.counts[n, :ran] += 1
            if self.per_edit and writer is not None:
                for t, value in enumerate(trace):
                    writer.add_scalar(f"edit_loss/N={n}/{rec['case_id']}", value, t)

    def on_train_end(self, trainer, pl_module) -> None:
        steps = trainer.datamodule.hparams.steps
        empty = torch.zeros(self.max_length + 1, steps, dtype=torch.float64)
        sums = self.sums if self.sums is not None else empty
        counts = self.counts if self.counts is not None else empty
        # NCCL reduces only tensors on the rank's own device.
        device = trainer.strategy.root_device
        sums = trainer.strategy.reduce(sums.to(device, copy=True), reduce_op="sum").cpu()
        counts = trainer.strategy.reduce(counts.to(device, copy=True), reduce_op="sum").cpu()
        if trainer.global_rank != 0:
            return
        writer = self._writer(trainer)
        fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True, height_ratios=(3, 1),
                                       constrained_layout=True)
        for n in range(self.max_length + 1):
            running = counts[n]
            if running[0] == 0:
                continue
            steps_run = int((running > 0).sum())
            mean = (sums[n, :steps_run] / running[:steps_run]).tolist()
            label = f"N={n}" + ("+" if n == self.max_length else "") + f" ({int(running[0])} edits)"
            line, = ax.plot(mean, label=label)
            ax_n.plot(running[:steps_run].tolist(), color=line.get_color())
            if writer is not None:
                for t, value in enumerate(mean):
                    writer.add_scalar(f"edit_loss_mean/N={n}", value, t)
                    writer.add_scalar(f"edits_running/N={n}", running[t].item(), t)
        ax.set(ylabel="mean loss of the edits still running", yscale="log", title=run_title(trainer, pl_module))
        ax_n.set(xlabel="optimisation step", ylabel="edits running", ylim=(0, None))
        ax_n.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_n.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        fig.savefig(self.folder / "loss_curves.png", dpi=120, bbox_inches="tight")
        if writer is not None:
            writer.add_figure("edit_loss_mean/by_length", fig)
        plt.close(fig)
