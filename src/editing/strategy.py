"""DDP for independent edits: DDP's processes, process group and collectives, without the
wrapper that averages gradients.

Each rank optimises its own edits; averaging their gradients would mix unrelated edits, and
the wrapper's per-step collectives would make a rank with fewer edit groups wait forever for
one with more. Metrics and loss curves are still reduced over ranks at the end of the run.
"""
from __future__ import annotations

from lightning.pytorch.strategies import DDPStrategy


class IndependentDDPStrategy(DDPStrategy):
    """``--trainer.strategy ddp`` in ``src.fit`` runs with this strategy."""

    strategy_name = "ddp_independent"

    def configure_ddp(self) -> None:
        # Leave the LightningModule unwrapped: no DistributedDataParallel, no gradient sync.
        return None
