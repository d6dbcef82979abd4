"""Progress that reads well in a log file: one line per step of ``every_percent`` of the batches.

A terminal gets Lightning's own progress bar; where stdout is a file or a pipe that bar writes
nothing until it ends (rich) or one carriage-return frame per refresh (tqdm), so entry points
swap it for ``LineProgress`` there (``use_line_progress``).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from tqdm.auto import tqdm

T = TypeVar("T")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class LineProgress(L.Callback):
    """Prints ``<what>: 30% (epoch 36/120), loss 0.412, 1 min 05 s elapsed, about 2 min 32 s left``."""

    def __init__(self, what: str, every_percent: int = 10, metric: str | None = None):
        """
        Args:
            what: names the job at the start of each line.
            every_percent: one line each time this share of all batches is done (and at the end).
            metric: logged value shown on each line (default: the first one logged).
        """
        self.what, self.every, self.metric = what, every_percent, metric

    def on_train_start(self, trainer, pl_module) -> None:
        self.start, self.shown = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        per_epoch = trainer.num_training_batches
        total = per_epoch * trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else per_epoch
        if trainer.global_rank != 0 or not total or total == float("inf"):
            return
        done = trainer.current_epoch * per_epoch + batch_idx + 1
        percent = 100 * done // total
        if percent < self.shown + self.every and done < total:
            return
        self.shown = percent - percent % self.every
        elapsed = time.perf_counter() - self.start
        parts = [f"{self.what}: {percent}%"]
        parts[0] += (f" (epoch {trainer.current_epoch + 1}/{trainer.max_epochs})" if trainer.max_epochs > 1
                     else f" (batch {done}/{total})")
        metrics = trainer.callback_metrics
        name = self.metric or next(iter(metrics), None)
        if name in metrics:
            parts.append(f"{name.rsplit('/', 1)[-1]} {float(metrics[name]):.3g}")
        parts.append(f"{_duration(elapsed)} elapsed")
        if done < total:
            parts.append(f"about {_duration(elapsed * (total - done) / done)} left")
        print(", ".join(parts), flush=True)


def use_line_progress(trainer: L.Trainer, what: str, stream=None) -> bool:
    """Where ``stream`` (default stdout) is no terminal and ``trainer`` shows a progress bar,
    replace that bar by a ``LineProgress``; True if it did."""
    stream = stream or sys.stdout
    bars = [cb for cb in trainer.callbacks if isinstance(cb, ProgressBar)]
    if not bars or stream.isatty():
        return False
    trainer.callbacks = [cb for cb in trainer.callbacks if not isinstance(cb, ProgressBar)] + [LineProgress(what)]
    return True


def progress(items: Iterable[T], desc: str, total: int | None = None, every_percent: int = 10,
             stream=None, **tqdm_kwargs) -> Iterator[T]:
    """``items`` with a tqdm bar on a terminal; elsewhere (a log file, a pipe) one line per
    ``every_percent`` of ``total`` (default ``len(items)``) instead of carriage-return frames."""
    stream = stream or sys.stderr
    if stream.isatty():
        yield from tqdm(items, desc=desc, total=total, file=stream, **tqdm_kwargs)
        return
    total = len(items) if total is None else total
    start, shown = time.perf_counter(), 0
    for done, item in enumerate(items, 1):
        yield item
        percent = 100 * done // max(total, 1)
        if percent >= shown + every_percent or done == total:
            shown = percent - percent % every_percent
            elapsed = time.perf_counter() - start
            left = f", about {_duration(elapsed * (total - done) / done)} left" if done < total else ""
            print(f"{desc}: {percent}% ({done}/{total}), {_duration(elapsed)} elapsed{left}", file=stream, flush=True)
