"""``python -m src.fit --config llada_corrected.yaml``: run a batch of edits as a Lightning fit.

The model is an edit method (``src.editing``: ROME, MEMIT), the data module turns requests
into edit groups and masking schedules, and the callbacks measure and record every edit.
"""
from __future__ import annotations

import sys

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies import DDPStrategy

from src.config_path import resolve_argv
from src.data.datamodule import EditDataModule
from src.editing.method import EditMethod
from src.editing.strategy import IndependentDDPStrategy


def main(argv: list[str] | None = None) -> LightningCLI:
    args = resolve_argv(list(sys.argv[1:] if argv is None else argv))
    cli = LightningCLI(EditMethod, EditDataModule, subclass_mode_model=True, run=False, args=args,
                       save_config_kwargs={"overwrite": True},
                       trainer_defaults={"max_epochs": 1, "enable_checkpointing": False,
                                         "num_sanity_val_steps": 0, "log_every_n_steps": 1,
                                         "accelerator": "cpu", "use_distributed_sampler": False})
    if type(cli.trainer.strategy) is DDPStrategy:
        # Plain "ddp" keeps its launcher and process group but not its gradient averaging.
        cli.trainer.strategy.__class__ = IndependentDDPStrategy
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli


if __name__ == "__main__":
    main()
