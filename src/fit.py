"""``python -m src.fit --config llada_corrected.yaml``: run a batch of edits as a Lightning fit.

The model is an edit method (``src.editing``: ROME, MEMIT), the data module turns requests
into edit groups and masking schedules, and the callbacks measure and record every edit.
``--help`` names the shipped configs and the options users change; ``--help-all`` gives every option.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies import DDPStrategy

from callbacks.results import read_records, summarise
from src.config_path import resolve_argv
from src.data.datamodule import EditDataModule
from src.editing.method import EditMethod
from src.editing.strategy import IndependentDDPStrategy
from src.evaluation.per_length import format_table
from src.fit_help import PROG, short_help
from src.progress import use_line_progress
from src.quiet import quiet_libraries

ROOT_DIR = "--trainer.default_root_dir"


def _given(argv: list[str], option: str) -> str | None:
    """The last value of ``option`` on the command line (``--opt v`` or ``--opt=v``), else None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


class EditCLI(LightningCLI):
    """LightningCLI whose ``--trainer.default_root_dir`` also moves the configs' logger folder:
    every shipped config names a logger with ``save_dir: runs``, which Lightning would let win."""

    def parse_arguments(self, parser, args) -> None:
        self.args = list(args)
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self) -> None:
        root = _given(self.args, ROOT_DIR)
        if root is None:
            return
        loggers = self.config.trainer.logger
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            init = getattr(logger, "init_args", None)
            if init is None or "save_dir" not in init:
                continue
            explicit = next((v for key in ("--trainer.logger.init_args.save_dir", "--trainer.logger.save_dir")
                             if (v := _given(self.args, key)) is not None), None)
            if explicit is not None and Path(explicit) != Path(root):
                raise SystemExit(f"{PROG}: {ROOT_DIR} {root} and --trainer.logger.init_args.save_dir {explicit} "
                                 "disagree; give one of them")
            init.save_dir = root


def report_finished(cli: LightningCLI) -> bool:
    """Where the fit had nothing left to do because every edit of the config is already in
    the run folder, say so and print that folder's table; True if so."""
    data, trainer = cli.datamodule, cli.trainer
    ids = {case.request.case_id for case in data.cases}
    if not ids or not ids <= data.skip_ids:
        return False
    folder = Path(trainer.log_dir or trainer.default_root_dir)
    if trainer.global_rank != 0:
        return True
    records = [rec for cid, rec in read_records(folder).items() if cid in ids or cid in {r[0] for r in data.rejected}]
    summary = summarise(records)
    print(f"all {len(ids)} edits already in {folder}; nothing to run (another --trainer.logger.init_args.name, "
          "or a new folder, runs them again):")
    print(format_table(summary["per_length"], summary["counts"]))
    print(f"{summary['ok']} edits measured, {summary['failed']} failed; results in {folder}")
    return True


def main(argv: list[str] | None = None) -> LightningCLI:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "-h" in argv or "--help" in argv:
        print(short_help())
        raise SystemExit(0)
    args = resolve_argv(["--help" if arg == "--help-all" else arg for arg in argv])
    quiet_libraries()
    cli = EditCLI(EditMethod, EditDataModule, subclass_mode_model=True, run=False, args=args,
                  parser_kwargs={"prog": PROG, "description": __doc__},
                  save_config_kwargs={"overwrite": True},
                  trainer_defaults={"max_epochs": 1, "enable_checkpointing": False,
                                    "num_sanity_val_steps": 0, "log_every_n_steps": 1,
                                    # Its table lists the frozen model and "other params": no news.
                                    "enable_model_summary": False,
                                    "accelerator": "cpu", "use_distributed_sampler": False})
    if type(cli.trainer.strategy) is DDPStrategy:
        # Plain "ddp" keeps its launcher and process group but not its gradient averaging.
        cli.trainer.strategy.__class__ = IndependentDDPStrategy
    use_line_progress(cli.trainer, "edit steps")
    cli.trainer.fit(cli.model, cli.datamodule)
    report_finished(cli)
    return cli


if __name__ == "__main__":
    main()
