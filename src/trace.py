"""Causal tracing: ``python -m src.trace --config llama.yaml`` (fact-world facts) or
``--config smollm2`` (ROME's known_1000 facts on a real checkpoint).

Writes per-fact JSON and heatmaps, the averaged JSON and figures, and TensorBoard events to
``out_dir``, and prints where the peak MLP effect lies.
"""
from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal, NamedTuple

import torch

from torch.utils.tensorboard import SummaryWriter
from src.progress import progress

from src.factworld.build import resolve_model_path
from src.factworld.tokens import encode_target
from src.factworld.world import World
from src.config_path import parse_dataclass
from src.data.sources.known import load_known
from src.models import load_model, load_tokenizer
from src.models.padding import left_pad
from src.tracing import (KINDS, TraceResult, average_figure, fact_figure, lines_figure, log_figures, noise_scale, peak,
                         save_figures, summarize, trace_fact)

@dataclass
class TraceConfig:
    """Arguments of ``python -m src.trace``."""

    model_path: str
    """Checkpoint folder, "factworld:<family>" (the embedded world's model), "smollm2" or "gguf:<file>"."""
    facts: Literal["world", "known"] = "world"
    """world: the fact world's facts; known: ROME's known_1000 (real checkpoints)."""
    world_path: str | None = None
    """Fact world JSON; default: world.json in the checkpoint folder or its parent."""
    facts_path: str | None = None
    """known_1000 file; default: rome/known_1000.json under $KE_DATA_ROOT."""
    n_facts: int = 50
    """Facts drawn at random (seeded); a world fact i uses template i mod #templates."""
    only_correct: bool = False
    """Trace only facts whose first object token is the clean model's argmax (checked first, in
    batches) until n_facts are traced; otherwise wrong facts are traced and left out of the average."""
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


class TraceItem(NamedTuple):
    """One fact as traced: the prompt, where its subject starts, and the true object."""

    subject: str
    relation: str
    object: str
    prompt: str
    subject_start: int


def world_items(world: World, n_facts: int, seed: int) -> list[TraceItem]:
    """``n_facts`` facts drawn at random (seeded); the i-th drawn uses template i mod #templates."""
    items = []
    for i, fact in enumerate(random.Random(seed).sample(world.facts, min(n_facts, len(world.facts)))):
        relation = world.relation(fact.relation)
        index = i % len(relation.templates)
        items.append(TraceItem(fact.subject, fact.relation, fact.object, relation.prompt(fact.subject, index),
                               relation.templates[index].index("{}")))
    return items


def known_items(facts_path: str | None, seed: int) -> list[TraceItem]:
    """Every known_1000 fact, in a seeded random order."""
    facts = load_known(facts_path)
    return [TraceItem(f.subject, f.relation, f.object, f.prompt, f.subject_start)
            for f in random.Random(seed).sample(facts, len(facts))]


@torch.no_grad()
def first_token_correct(adapter, tokenizer, items: list[TraceItem], batch_size: int = 32) -> list[bool]:
    """Whether the clean model's argmax right after each prompt is the object's first token."""
    out = []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        rows = [adapter.query_inputs(tokenizer(it.prompt)["input_ids"]) for it in chunk]
        ids, mask = left_pad([r[0] for r in rows], adapter.pad_token_id)
        pos = torch.tensor([ids.shape[1] - len(r[0]) + r[1] for r in rows])
        best = adapter.token_logits(ids, mask)[torch.arange(len(rows)), pos].argmax(-1).tolist()
        out += [b == encode_target(tokenizer, it.object)[0] for b, it in zip(best, chunk)]
    return out


def choose_items(cfg: TraceConfig, adapter, tokenizer, items: list[TraceItem]) -> list[TraceItem]:
    """The first ``n_facts`` items; with ``only_correct`` the first that the model gets right."""
    if not cfg.only_correct:
        return items[:cfg.n_facts]
    chosen = []
    for i in range(0, len(items), 4 * cfg.n_facts):
        chunk = items[i:i + 4 * cfg.n_facts]
        chosen += [it for it, ok in zip(chunk, first_token_correct(adapter, tokenizer, chunk)) if ok]
        if len(chosen) >= cfg.n_facts:
            break
    return chosen[:cfg.n_facts]


def load_record(path: Path, prompt: str, obj: str, settings: dict) -> dict | None:
    """A fact already traced into ``path`` with the same ``settings``, else None."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if (record["prompt"], record["object"], record.get("settings")) == (prompt, obj, settings) else None


def result_from_dict(d: dict) -> TraceResult:
    names = {f.name for f in fields(TraceResult)}
    return TraceResult(**{**{k: v for k, v in d.items() if k in names}, "scores": torch.tensor(d["scores"]),
                          "subject_span": tuple(d["subject_span"])})


def main(cfg: TraceConfig) -> dict:
    folder = resolve_model_path(cfg.model_path)
    adapter, tokenizer = load_model(folder).to(cfg.device), load_tokenizer(folder)
    if cfg.facts == "world":
        world = find_world(folder, cfg.world_path)
        subjects, items = world.subjects, world_items(world, cfg.n_facts, cfg.seed)
    else:
        items = known_items(cfg.facts_path, cfg.seed)
        subjects = sorted({it.subject for it in items})
    if (noise := cfg.noise) is None:
        noise = noise_scale(adapter, [encode_target(tokenizer, s) for s in subjects])
    facts = choose_items(cfg, adapter, tokenizer, items)
    out = Path(cfg.out_dir)
    writer = SummaryWriter(str(out / "tensorboard"))
    traced = []
    seconds = []
    settings = {"samples": cfg.samples, "window": cfg.window, "noise": noise, "seed": cfg.seed}
    for i, fact in enumerate(progress(facts, "tracing facts")):
        prompt, start = fact.prompt, fact.subject_start
        ids, span = subject_span(tokenizer, prompt, start, start + len(fact.subject))
        done = out / "facts" / f"{i:03d}.json"
        if (record := load_record(done, prompt, fact.object, settings)) is not None:  # a rerun resumes
            results = {k: result_from_dict(r) for k, r in record["results"].items()}
            seconds.append(record["seconds"])
            traced.append(results)
            continue
        began = time.perf_counter()
        results = {kind: trace_fact(adapter, ids, span, encode_target(tokenizer, fact.object), cfg.samples,
                                    noise, cfg.window, kind, cfg.seed + i, cfg.batch_size) for kind in KINDS}
        seconds.append(time.perf_counter() - began)
        traced.append(results)
        labels = tokenizer.convert_ids_to_tokens(results["hidden"].input_ids)
        record = {"subject": fact.subject, "relation": fact.relation, "object": fact.object, "prompt": prompt,
                  "tokens": labels, "seconds": round(seconds[-1], 2), "settings": settings,
                  "results": {k: r.to_dict() for k, r in results.items()}}
        done.parent.mkdir(parents=True, exist_ok=True)
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(done)  # a killed run never leaves a torn record that looks done
        figure = fact_figure(results, labels, f"{adapter.family}: {prompt} -> {fact.object}")
        log_figures(writer, {"fact": figure}, step=i)  # one tag, the fact index as step: a slider
        save_figures({f"facts/{i:03d}": figure}, out)
    summary = {**summarize(traced), "family": adapter.family, "noise": noise, "config": asdict(cfg),
               "seconds_per_fact": sum(seconds) / max(1, len(seconds))}
    if summary["effect"]:
        summary["peaks"] = {kind: dict(zip(("layer", "group", "effect"), peak(summary, kind))) for kind in KINDS}
        summary["peak_mlp"] = summary["peaks"]["mlp"]
        figures = {"average": average_figure(summary), "lines": lines_figure(summary)}
        log_figures(writer, figures)
        save_figures(figures, out)
        for kind, p in summary["peaks"].items():
            print(f"peak {kind} indirect effect {p['effect']:.4f} at layer {p['layer']}, {p['group']}")
    writer.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"traced {summary['n_facts']} facts ({summary['n_skipped']} skipped: clean model wrong); wrote {out}")
    return summary


if __name__ == "__main__":
    main(parse_args(sys.argv[1:]))
