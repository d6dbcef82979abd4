"""Layer sweep: ``python -m src.sweep --config llama_rome.yaml`` (bare names: configs/sweep/).

Runs one ``src.fit`` per layer (ROME) or window (MEMIT) of a base fit config, each into its own
ordinary run folder ``<out_dir>/<name>/L<layers>/``, then writes ``sweep.json`` (per-layer
tables, best layer by mean efficacy over target lengths) and ``sweep.png`` into ``<out_dir>/<name>/``.
A layer whose run folder already holds ``summary.json`` is skipped, so a stopped sweep resumes.
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
from src.reporting.study import Sweep, as_window, layer_label, load_fit, mean_over_lengths
from src.tracing import save_figures


@dataclass
class SweepConfig:
    """Arguments of ``python -m src.sweep``."""

    base: str
    """Fit config every run starts from: a path or a bare name in configs/."""
    layers: list[int | list[int]]
    """Layers to try: one int per run (ROME), or one list per run (a MEMIT window, e.g. [[0, 1], [1, 2]])."""
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


def fit_argv(cfg: SweepConfig, entry: int | list[int]) -> list[str]:
    """``src.fit`` arguments of one run: base config, overrides, then this run's layers and folder."""
    argv = ["--config", str(resolve_config(cfg.base))]
    for key, value in cfg.overrides.items():
        argv += [f"--{key.removeprefix('--')}", value if isinstance(value, str) else json.dumps(value)]
    return argv + ["--model.init_args.layers", json.dumps(as_window(entry)),
                   "--trainer.logger.init_args.save_dir", str(sweep_folder(cfg)),
                   "--trainer.logger.init_args.name", f"L{layer_label(entry)}"]


def collect(cfg: SweepConfig) -> dict:
    """``sweep.json``'s content from the finished runs' summaries."""
    folder = sweep_folder(cfg)
    runs = {layer_label(e): load_fit(folder / f"L{layer_label(e)}") for e in cfg.layers}
    first = next(iter(runs.values()))
    means = {label: mean_over_lengths(run.per_length.get("efficacy", {})) for label, run in runs.items()}
    scored = [(m, e) for e, m in zip(cfg.layers, means.values()) if m is not None]
    return {"name": folder.name, "base": cfg.base, "family": first.family, "method": first.method,
            "layers": cfg.layers, "per_layer": {label: run.per_length for label, run in runs.items()},
            "counts": {label: run.counts for label, run in runs.items()}, "mean_efficacy": means,
            "best_layer": max(scored, key=lambda x: x[0])[1] if scored else None, "config": asdict(cfg)}


def main(cfg: SweepConfig) -> dict:
    if not cfg.layers:
        raise ValueError("sweep option layers is empty: give at least one layer (ROME) or window (MEMIT)")
    folder = sweep_folder(cfg)
    for entry in progress(cfg.layers, f"sweep {folder.name}"):
        if (folder / f"L{layer_label(entry)}" / "summary.json").is_file():
            tqdm.write(f"layers {as_window(entry)}: done already ({folder / f'L{layer_label(entry)}'}), skipped")
            continue
        fit(fit_argv(cfg, entry))
    result = collect(cfg)
    (folder / "sweep.json").write_text(json.dumps(result, indent=2))
    save_figures({"sweep": sweep_figure(Sweep.from_json(folder, result))}, folder)
    print(f"best layer by mean efficacy: {result['best_layer']}; wrote {folder / 'sweep.json'} and sweep.png")
    return result


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
