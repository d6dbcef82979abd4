"""Targeted silencing of library messages that say nothing to a user of this project.

Each entry is a message we cause on purpose or cannot act on; everything else Lightning says
still shows. ``quiet_libraries()`` is idempotent and called by every entry point that builds a
Trainer (``src.fit``, the fact world's pretraining).
"""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator

IGNORED_WARNINGS = (
    # src.fit rewrites bare config names to paths, so it always passes args= (the whole argv).
    (r"LightningCLI's args parameter is intended to run from within Python", UserWarning),
    # Lightning 2.6 on torch >= 2.10: inside Lightning's own pytree code, nothing to change here.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    # An edit method keeps the whole language model frozen in eval mode; only the edit rows train.
    (r"Found \d+ module\(s\) in eval mode at the start of training", UserWarning),
    # EditMethod moves its batches of edit cases itself (they are not tensors).
    (r"You have overridden `transfer_batch_to_device` in `LightningModule`", UserWarning),
    # The edit data set knows its length exactly and loads in the main process.
    (r"Your `IterableDataset` has `__len__` defined", UserWarning),
    # No edit left to run: src.fit says "all N edits already in FOLDER" (or refuses a run with
    # nothing to edit) itself.
    (r"Total length of `(DataLoader|CombinedLoader)` across ranks is zero", UserWarning),
)
# Lightning's info lines that src.fit replaces with its own.
DROPPED_LINES = ("litlogger", "`Trainer.fit` stopped: No training batches")
RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", RANK_ZERO_LOGGER)


class _DropAdverts(logging.Filter):
    """Drops Lightning's "Tip: ... litlogger" line (an advertisement printed on every Trainer)
    and the other ``DROPPED_LINES``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(line in str(record.msg) for line in DROPPED_LINES)


def quiet_libraries() -> None:
    """Install the filters above (warnings by message and category, the tip by its logger); where
    stderr is no terminal, also drop transformers' weight loading/saving bars (carriage-return
    frames in a log file)."""
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    for message, category in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    logger = logging.getLogger(RANK_ZERO_LOGGER)
    if not any(isinstance(f, _DropAdverts) for f in logger.filters):
        logger.addFilter(_DropAdverts())


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Everything a block prints (stdout, stderr, warnings, Lightning's info lines) goes to the
    yielded buffer; if the block raises, the buffer is written to stderr before the error."""
    buffer = io.StringIO()
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    except BaseException:
        sys.stderr.write(buffer.getvalue())
        raise
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
