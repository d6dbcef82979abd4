"""Train the fact world's four matched models (cached) and measure their recall.

    python -m src.pretrain --config factworld.yaml                  # train what is missing, then recall
    python -m src.pretrain --config factworld.yaml --recall-only    # recall of the cached models
    python -m src.pretrain --config tiny.yaml --families '[llama, llada]'

A bare config name is looked up in configs/pretrain/, then configs/. The cache folder is
``$MDM_EDIT_CACHE`` or ``./.cache/mdm-edit`` (see ``src.factworld.build``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Literal, Optional

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other jobs, spinning
# threads starve each other and training ran 3-10x slower. Must precede the torch import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from jsonargparse import ActionConfigFile  # noqa: E402

from src.factworld.build import FactWorldAssets, ensure_models, ensure_world  # noqa: E402
from src.factworld.families import FAMILY_ORDER  # noqa: E402
from src.factworld.recall import measure_recall  # noqa: E402
from src.factworld.spec import config_path, spec_from, spec_parser  # noqa: E402
from src.models import load_model  # noqa: E402

Family = Literal["llama", "qwen", "llada", "dream"]


def _resolve_config_names(argv: list[str]) -> list[str]:
    """``--config NAME`` with NAME a bare config name becomes its path (ActionConfigFile wants one)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = str(config_path(out[i + 1]))
        elif arg.startswith("--config="):
            out[i] = "--config=" + str(config_path(arg.split("=", 1)[1]))
    return out


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


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = spec_parser(prog="python -m src.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action=ActionConfigFile, help="A config file or a bare config name.")
    parser.add_argument("--families", type=Optional[list[Family]], default=None,
                        help="Families to train and measure (default: all four).")
    parser.add_argument("--recall-only", action="store_true", help="Measure the cached models; train nothing.")
    parser.add_argument("--recall_batch_size", type=int, default=256, help="Prompts decoded together.")
    cfg = parser.parse_args(_resolve_config_names(sys.argv[1:] if argv is None else argv))
    spec = spec_from(parser, cfg)
    families = [f for f in FAMILY_ORDER if f in (cfg.families or FAMILY_ORDER)]
    start = time.perf_counter()
    assets = ensure_world(spec) if cfg.recall_only else ensure_models(spec, families)
    build_seconds = time.perf_counter() - start
    rows = recall_table(assets, families, cfg.recall_batch_size)
    print(f"cache: {assets.root}")
    print(format_table(rows))
    print(f"wall seconds: build {build_seconds:.0f}, recall {time.perf_counter() - start - build_seconds:.0f}")
    return rows


if __name__ == "__main__":
    main()
