"""Train the fact world's four matched models (cached) and measure their recall.

    python -m src.pretrain --config factworld.yaml                  # train what is missing, then recall
    python -m src.pretrain --config factworld.yaml --recall-only    # recall of the cached models
    python -m src.pretrain --config tiny.yaml --families '[llama, llada]'
    python -m src.pretrain --config factworld.yaml --jobs 1   # one family at a time, all cores each

A bare config name is looked up in configs/pretrain/, then configs/. The cache folder is
``$MDM_EDIT_CACHE`` or ``./.cache/mdm-edit`` (see ``src.factworld.build``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Literal, Optional

from jsonargparse import ActionConfigFile

from src.factworld.build import FactWorldAssets, ensure_models, ensure_world
from src.factworld.families import FAMILY_ORDER
from src.factworld.kamel import KamelWorldConfig, ensure_kamel_models
from src.factworld.recall import measure_recall
from src.config_path import resolve_argv
from src.factworld.spec import spec_from, spec_parser
from src.models import load_model

Family = Literal["llama", "qwen", "llada", "dream"]


def recall_table(assets: FactWorldAssets, families: list[str], batch_size: int) -> dict[str, dict]:
    """Recall and size of each family's cached model; also merged into ``recall.json``."""
    world, timings_file = assets.world(), assets.root / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    rows = {}
    for family in families:
        if family not in assets.model_paths:
            raise FileNotFoundError(f"{assets.root / family}: not trained yet (run without --recall-only)")
        adapter = load_model(assets.model_paths[family])
        result = measure_recall(adapter, assets.tokenizer(), world, batch_size)
        rows[family] = {**result, "params": sum(p.numel() for p in adapter.parameters()),
                        "train_seconds": timings.get(family, {}).get("train_seconds")}
    recall_file = assets.root / "recall.json"
    saved = json.loads(recall_file.read_text()) if recall_file.is_file() else {}
    recall_file.write_text(json.dumps({**saved, **rows}, indent=2) + "\n")
    return rows


def format_table(rows: dict[str, dict]) -> str:
    lengths = sorted({int(n) for row in rows.values() for n in row["by_length"]})
    head = f"{'family':<7} {'params':>9} {'train s':>8} {'recall':>7}  " + " ".join(f"N={n:<4}" for n in lengths)
    lines = [head]
    for family, row in rows.items():
        seconds = "-" if row["train_seconds"] is None else f"{row['train_seconds']:.0f}"
        per_length = " ".join(f"{row['by_length'].get(n, float('nan')):<6.3f}" for n in lengths)
        lines.append(f"{family:<7} {row['params']:>9,} {seconds:>8} {row['recall']:>7.4f}  {per_length}")
    trained = [row["train_seconds"] for row in rows.values() if row["train_seconds"] is not None]
    lines.append(f"total train seconds: {sum(trained):.0f}")
    return "\n".join(lines)


def build_parser():
    """The command line: the spec's fields, the config file and the run's own options."""
    parser = spec_parser(prog="python -m src.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action=ActionConfigFile, help="A config file or a bare config name.")
    parser.add_argument("--families", type=Optional[list[Family]], default=None,
                        help="Families to train and measure (default: all four).")
    parser.add_argument("--jobs", type=int, default=min(2, len(os.sched_getaffinity(0))),
                        help="Families trained side by side, each in its own process with cores / jobs threads "
                             "(default: 2, or 1 on one core); dream starts once qwen is trained.")
    parser.add_argument("--recall-only", action="store_true", help="Measure the cached models; train nothing.")
    parser.add_argument("--recall_batch_size", type=int, default=256, help="Prompts decoded together.")
    parser.add_argument("--kamel", type=Optional[KamelWorldConfig], default=None,
                        help="Build the world from these KAMEL relations instead of generating one (kamel.yaml).")
    return parser


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = build_parser()
    cfg = parser.parse_args(resolve_argv(sys.argv[1:] if argv is None else argv, "pretrain"))
    spec = spec_from(parser, cfg)
    families = [f for f in FAMILY_ORDER if f in (cfg.families or FAMILY_ORDER)]
    start = time.perf_counter()
    if (kamel := parser.instantiate_classes(cfg).kamel) is not None:
        assets = ensure_kamel_models(spec, kamel, [] if cfg.recall_only else families)
    else:
        assets = ensure_world(spec) if cfg.recall_only else ensure_models(spec, families, cfg.jobs)
    build_seconds = time.perf_counter() - start
    rows = recall_table(assets, families, cfg.recall_batch_size)
    print(f"cache: {assets.root}")
    print(format_table(rows))
    print(f"wall seconds: build {build_seconds:.0f}, recall {time.perf_counter() - start - build_seconds:.0f}")
    return rows


if __name__ == "__main__":
    main()
