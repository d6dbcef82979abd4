"""DDP for independent edits: DDP's processes, process group and collectives, without the
wrapper that averages gradients.

Each rank optimises its own edits; averaging their gradients would mix unrelated edits, and
the wrapper's per-step collectives would make a rank with fewer edit groups wait forever for
one with more. Metrics and loss curves are still reduced over ranks at the end of the run.
A rank that the launcher started ends when the launcher does (a killed launcher would leave it
orphaned, waiting in a collective or editing on).
"""
from __future__ import annotations

import os
import sys
import threading
import time

from lightning.pytorch.strategies import DDPStrategy


def end_with_parent(poll_s: float = 1.0) -> None:
    """End this process, from a daemon thread, once the process that started it has gone (its
    parent id changes when the parent dies, whatever killed it, on Linux and macOS alike). A
    parent that died before this call left the process to init (id 1): it ends at once."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent != 1:
            time.sleep(poll_s)
        print(f"rank process {os.getpid()}: its launcher (process {parent}) has ended; ending too",
              file=sys.stderr, flush=True)
        os._exit(1)  # a rank may sit in a collective; records are appended line by line, nothing is lost

    threading.Thread(target=watch, name="end-with-launcher", daemon=True).start()


class IndependentDDPStrategy(DDPStrategy):
    """``--trainer.strategy ddp`` in ``src.fit`` runs with this strategy."""

    strategy_name = "ddp_independent"

    def setup_environment(self) -> None:
        # Local ranks above 0 are the launcher's children; rank 0 of a node is the launcher
        # itself (or a process started by hand or by a scheduler, which watch it themselves).
        if self.local_rank > 0:
            end_with_parent()
        super().setup_environment()

    def configure_ddp(self) -> None:
        # Leave the LightningModule unwrapped: no DistributedDataParallel, no gradient sync.
        return None
