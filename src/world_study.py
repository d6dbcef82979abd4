"""Which fact-world text makes small models store facts at the subject?
``python -m src.world_study --config worlds.yaml`` (bare names: configs/world_study/).

For each pretraining spec (``configs/pretrain/``) it trains one family (cached), measures its
recall, traces it (``src.trace``) and sweeps classic ROME (the shift at the last subject token,
``through_update: false``) over its layers (``src.sweep``), then prints and writes one table:
training time, recall, the MLP indirect effect at the last subject token and at the last token
(peak layer of each), and ROME's efficacy per target length at the sweep's best layer. Every
part is an ordinary run folder under ``<out_dir>/<spec>/``, so a stopped study resumes.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from src.config_path import parse_dataclass
from src.factworld.build import ensure_models
from src.factworld.spec import load_spec
from src.pretrain import recall_table
from src.sweep import SweepConfig, main as sweep
from src.trace import TraceConfig, main as trace

GROUPS = {"subject": "last subject token", "last": "last token"}


@dataclass
class WorldStudyConfig:
    """Arguments of ``python -m src.world_study``."""

    worlds: list[str]
    """Pretraining specs to compare: paths or bare names in configs/pretrain/."""
    family: str = "llama"
    """Family trained, traced and edited on each world."""
    n_facts: int = 30
    """Facts traced per world."""
    window: int = 2
    """Layers restored together in the MLP and attention traces."""
    per_length: int = 25
    """ROME edits per target length at each swept layer."""
    layers: list[int] | None = None
    """Layers swept; default every layer of the world's models."""
    fit_overrides: dict[str, Any] = field(default_factory=dict)
    """Further fit options of every ROME run, e.g. {"data.steps": 25}."""
    out_dir: str = "runs/worlds"
    """Parent of one folder per world."""


def peak_at(summary: dict, group: str) -> tuple[float, int]:
    """Largest MLP indirect effect of a token group and its layer."""
    values = summary["effect"]["mlp"][group]
    layer = max(range(len(values)), key=values.__getitem__)
    return values[layer], layer


def study_world(cfg: WorldStudyConfig, world: str) -> dict:
    spec = load_spec(world)
    assets = ensure_models(spec, [cfg.family])
    row: dict = {"world": world, "spec": spec.spec_hash(), **recall_table(assets, [cfg.family], 256)[cfg.family]}
    out = Path(cfg.out_dir) / Path(world).stem
    model = f"factworld:{cfg.family}@{world}"
    summary_file = out / "trace" / "summary.json"
    summary = (json.loads(summary_file.read_text()) if summary_file.is_file() else
               trace(TraceConfig(model_path=model, n_facts=cfg.n_facts, window=cfg.window, out_dir=str(out / "trace"))))
    for key, group in GROUPS.items():
        row[f"mlp_{key}"], row[f"mlp_{key}_layer"] = peak_at(summary, group)
    overrides = {"model.init_args.model_path": model, "model.init_args.through_update": False,
                 "model.init_args.edit_sites": False, "data.per_length": cfg.per_length,
                 "trainer.enable_progress_bar": False, **cfg.fit_overrides}
    swept = sweep(SweepConfig(base=f"{cfg.family}_rome.yaml", layers=cfg.layers or list(range(spec.num_layers)),
                              overrides=overrides, name="rome", out_dir=str(out)))
    best = str(swept["best_layer"])
    row.update(rome_layer=swept["best_layer"], rome_efficacy=swept["per_layer"][best]["efficacy"],
               rome_specificity=swept["per_layer"][best].get("specificity"))
    return row


def format_rows(rows: list[dict]) -> str:
    lengths = sorted({n for r in rows for n in r["rome_efficacy"]}, key=int)
    head = ("| world | train s | recall | MLP IE last subject token (layer) | MLP IE last token (layer) | "
            "ROME layer | " + " | ".join(f"ROME N={n}" for n in lengths) + " |")
    lines = [head, "|" + "---|" * (6 + len(lengths))]
    for r in rows:
        lines.append(f"| {r['world']} | {r['train_seconds']:.0f} | {r['recall']:.3f} | "
                     f"{r['mlp_subject']:.3f} ({r['mlp_subject_layer']}) | {r['mlp_last']:.3f} ({r['mlp_last_layer']}) | "
                     f"{r['rome_layer']} | " + " | ".join(f"{r['rome_efficacy'].get(n, float('nan')):.2f}" for n in lengths) + " |")
    return "\n".join(lines)


def main(cfg: WorldStudyConfig) -> list[dict]:
    if not cfg.worlds:
        raise ValueError("world_study option worlds is empty: name at least one configs/pretrain/ spec")
    rows = [study_world(cfg, world) for world in cfg.worlds]
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps({"rows": rows, "config": asdict(cfg)}, indent=1))
    table = format_rows(rows)
    (out / "table.md").write_text(table + "\n")
    print(table)
    print(f"wrote {out / 'table.md'} and table.json")
    return rows


if __name__ == "__main__":
    main(parse_dataclass(WorldStudyConfig, sys.argv[1:], "world_study", __doc__))
