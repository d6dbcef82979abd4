"""Causal tracing of fact-world facts: ``python -m src.trace --config llama.yaml``.

Writes per-fact JSON and heatmaps, the averaged JSON and figures, and TensorBoard events to
``out_dir``, and prints where the peak MLP effect lies.
"""
from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from src.factworld.build import resolve_model_path
from src.factworld.tokens import encode_target
from src.factworld.world import World
from src.config_path import parse_dataclass
from src.models import load_model, load_tokenizer
from src.tracing import (KINDS, average_figure, fact_figure, lines_figure, log_figures, noise_scale, peak,
                         save_figures, summarize, trace_fact)

@dataclass
class TraceConfig:
    """Arguments of ``python -m src.trace``."""

    model_path: str
    """Checkpoint folder, or "factworld:<family>" for the embedded world's trained model."""
    world_path: str | None = None
    """Fact world JSON; default: world.json in the checkpoint folder or its parent."""
    n_facts: int = 50
    """Facts drawn at random (seeded) from the world; fact i uses template i mod #templates."""
    samples: int = 10
    """Noise samples per corrupted run."""
    window: int = 10
    """Layers restored together for MLP and attention traces."""
    noise: float | None = None
    """Noise std; default 3 x std of the world's subject-token embeddings."""
    batch_size: int = 128
    """Rows per forward pass (cells x samples)."""
    seed: int = 0
    """Seeds the fact draw and (plus the fact index) each fact's noise."""
    out_dir: str = "runs/trace"
    """Where JSON, PNGs and TensorBoard events go."""
    device: str = "cpu"


def parse_args(argv: list[str]) -> TraceConfig:
    return parse_dataclass(TraceConfig, argv, "trace", __doc__)


def find_world(folder: Path, world_path: str | None) -> World:
    candidates = [Path(world_path)] if world_path else [folder / "world.json", folder.parent / "world.json"]
    for path in candidates:
        if path.is_file():
            return World.from_json(path)
    raise FileNotFoundError(f"no fact world at {' or '.join(map(str, candidates))}; set world_path")


def subject_span(tokenizer, prompt: str, start: int, end: int) -> tuple[list[int], tuple[int, int]]:
    """Prompt ids and the tokens overlapping characters ``start:end`` (special tokens have empty offsets)."""
    enc = tokenizer(prompt, return_offsets_mapping=True)
    inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a < b and a < end and b > start]
    return enc["input_ids"], (inside[0], inside[-1] + 1)


def main(cfg: TraceConfig) -> dict:
    folder = resolve_model_path(cfg.model_path)
    adapter, tokenizer = load_model(folder).to(cfg.device), load_tokenizer(folder)
    world = find_world(folder, cfg.world_path)
    if (noise := cfg.noise) is None:
        noise = noise_scale(adapter, [encode_target(tokenizer, s) for s in world.subjects])
    facts = random.Random(cfg.seed).sample(world.facts, min(cfg.n_facts, len(world.facts)))
    out = Path(cfg.out_dir)
    writer = SummaryWriter(str(out / "tensorboard"))
    traced = []
    for i, fact in enumerate(tqdm(facts, desc="tracing facts")):
        relation = world.relation(fact.relation)
        template = relation.templates[i % len(relation.templates)]
        prompt = relation.prompt(fact.subject, i % len(relation.templates))
        start = template.index("{}")
        ids, span = subject_span(tokenizer, prompt, start, start + len(fact.subject))
        results = {kind: trace_fact(adapter, ids, span, encode_target(tokenizer, fact.object), cfg.samples,
                                    noise, cfg.window, kind, cfg.seed + i, cfg.batch_size) for kind in KINDS}
        traced.append(results)
        labels = tokenizer.convert_ids_to_tokens(results["hidden"].input_ids)
        record = {"subject": fact.subject, "relation": fact.relation, "object": fact.object, "prompt": prompt,
                  "tokens": labels, "results": {k: r.to_dict() for k, r in results.items()}}
        (out / "facts").mkdir(parents=True, exist_ok=True)
        (out / "facts" / f"{i:03d}.json").write_text(json.dumps(record, indent=1))
        figure = fact_figure(results, labels, f"{prompt} -> {fact.object}")
        log_figures(writer, {"fact": figure}, step=i)  # one tag, the fact index as step: a slider
        save_figures({f"facts/{i:03d}": figure}, out)
    summary = {**summarize(traced), "family": adapter.family, "noise": noise, "config": asdict(cfg)}
    if summary["effect"]:
        layer, group, value = peak(summary, "mlp")
        summary["peak_mlp"] = {"layer": layer, "group": group, "effect": value}
        figures = {"average": average_figure(summary), "lines": lines_figure(summary)}
        log_figures(writer, figures)
        save_figures(figures, out)
        print(f"peak MLP indirect effect {value:.4f} at layer {layer}, {group}")
    writer.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"traced {summary['n_facts']} facts ({summary['n_skipped']} skipped: clean model wrong); wrote {out}")
    return summary


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
