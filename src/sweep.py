"""Layer sweep: ``python -m src.sweep --config llama_rome.yaml`` (bare names: configs/sweep/).

Runs one ``src.fit`` per layer (ROME) or window (MEMIT) of a base fit config, each into its own
ordinary run folder ``<out_dir>/<name>/L<layers>/``, then writes ``sweep.json`` (per-layer
tables, best layer by mean efficacy over target lengths) and ``sweep.png`` into ``<out_dir>/<name>/``.
A layer whose run folder already holds ``summary.json`` is skipped, so a stopped sweep resumes.

Any other option of the edit method is swept the same way (``option`` and ``values``; run
folders ``<option>_<value>``), e.g. ROME's clamp: ``python -m src.sweep --config llama_rome_clamp``.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from src.config_path import parse_dataclass, resolve_config
from src.fit import main as fit
from src.progress import progress
from src.reporting.figures import sweep_figure
from src.reporting.study import Sweep, as_window, entry_label, load_fit, mean_over_lengths, run_name
from src.tracing import save_figures


@dataclass
class SweepConfig:
    """Arguments of ``python -m src.sweep``."""

    base: str
    """Fit config every run starts from: a path or a bare name in configs/."""
    layers: list[int | list[int]] = field(default_factory=list)
    """Layers to try: one int per run (ROME), or one list per run (a MEMIT window, e.g. [[0, 1], [1, 2]])."""
    option: str = "layers"
    """The edit method's option swept: "layers" (the entries of ``layers``) or another init
    argument of the method, e.g. "clamp_norm_factor" (the entries of ``values``, every run at the
    base config's layers)."""
    values: list[Any] = field(default_factory=list)
    """Values of ``option`` when it is not the layers."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Fit options for every run, e.g. {"data.per_length": 50}; the sweep's layers and log folder win."""
    name: str | None = None
    """Sweep folder name; default: the base config's file stem."""
    out_dir: str = "runs/sweep"
    """Parent of the sweep folder."""


def parse_args(argv: list[str]) -> SweepConfig:
    return parse_dataclass(SweepConfig, argv, "sweep", __doc__)


def sweep_folder(cfg: SweepConfig) -> Path:
    return Path(cfg.out_dir) / (cfg.name or resolve_config(cfg.base).stem)


def entries(cfg: SweepConfig) -> list:
    """The swept values: layers (or windows), or the values of another option."""
    return cfg.layers if cfg.option == "layers" else cfg.values


def fit_argv(cfg: SweepConfig, entry) -> list[str]:
    """``src.fit`` arguments of one run: base config, overrides, then this run's value and folder."""
    argv = ["--config", str(resolve_config(cfg.base))]
    for key, value in cfg.overrides.items():
        argv += [f"--{key.removeprefix('--')}", value if isinstance(value, str) else json.dumps(value)]
    swept = as_window(entry) if cfg.option == "layers" else entry
    return argv + [f"--model.init_args.{cfg.option}", json.dumps(swept),
                   "--trainer.logger.init_args.save_dir", str(sweep_folder(cfg)),
                   "--trainer.logger.init_args.name", run_name(cfg.option, entry_label(cfg.option, entry))]


def collect(cfg: SweepConfig) -> dict:
    """``sweep.json``'s content from the finished runs' summaries."""
    folder = sweep_folder(cfg)
    labels = [entry_label(cfg.option, e) for e in entries(cfg)]
    runs = {key: load_fit(folder / run_name(cfg.option, key)) for key in labels}
    first = next(iter(runs.values()))
    means = {key: mean_over_lengths(run.per_length.get("efficacy", {})) for key, run in runs.items()}
    scored = [(m, e) for e, m in zip(entries(cfg), means.values()) if m is not None]
    return {"name": folder.name, "base": cfg.base, "family": first.family, "method": first.method,
            "option": cfg.option, "layers": first.layers if cfg.option != "layers" else cfg.layers,
            "values": entries(cfg), "per_layer": {key: run.per_length for key, run in runs.items()},
            "per_site": {key: run.per_site for key, run in runs.items() if run.per_site},
            "counts": {key: run.counts for key, run in runs.items()}, "mean_efficacy": means,
            "best_layer": max(scored, key=lambda x: x[0])[1] if scored else None, "config": asdict(cfg)}


def main(cfg: SweepConfig) -> dict:
    if not entries(cfg):
        raise ValueError(f"sweep option {'layers' if cfg.option == 'layers' else 'values'} is empty: give at least "
                         f"one {'layer (ROME) or window (MEMIT)' if cfg.option == 'layers' else cfg.option + ' value'}")
    folder = sweep_folder(cfg)
    for entry in progress(entries(cfg), f"sweep {folder.name}"):
        run = folder / run_name(cfg.option, entry_label(cfg.option, entry))
        if (run / "summary.json").is_file():
            tqdm.write(f"{cfg.option} {entry}: done already ({run}), skipped")
            continue
        fit(fit_argv(cfg, entry))
    result = collect(cfg)
    (folder / "sweep.json").write_text(json.dumps(result, indent=2))
    save_figures({"sweep": sweep_figure(Sweep.from_json(folder, result))}, folder)
    best = "layer" if cfg.option == "layers" else cfg.option
    print(f"best {best} by mean efficacy: {result['best_layer']}; wrote {folder / 'sweep.json'} and sweep.png")
    return result


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
