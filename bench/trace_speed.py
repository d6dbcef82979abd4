"""Time to trace one fact (hidden, MLP and attention) batched vs one cell per forward pass.

    python -m bench.trace_speed                  # random models of the fact-world shape, all families
    python -m bench.trace_speed --model PATH     # a checkpoint folder (tokenizer and world.json beside it)

Both ways run side by side on the same fact; the table also shows they agree (max |diff|).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from src.factworld import WorldConfig, generate_world, train_tokenizer
from src.factworld.families import FAMILY_ORDER, dream_from_qwen, new_model
from src.factworld.tokens import encode_target
from src.models import load_model, load_tokenizer
from src.trace import find_world, subject_span
from src.tracing import KINDS, trace_fact


def longest_fact(world, tokenizer) -> tuple[list[int], tuple[int, int], list[int], str]:
    """Prompt ids, subject span and target ids of the longest prompt among the world's first facts."""
    best = None
    for fact in world.facts[:100]:
        relation = world.relation(fact.relation)
        for template in relation.templates:
            prompt, start = template.replace("{}", fact.subject), template.index("{}")
            ids, span = subject_span(tokenizer, prompt, start, start + len(fact.subject))
            if best is None or len(ids) > len(best[0]):
                best = (ids, span, encode_target(tokenizer, fact.object), prompt)
    return best


def timed(adapter, fact, args, batched: bool) -> tuple[float, list[torch.Tensor]]:
    ids, span, target, _ = fact
    start = time.perf_counter()
    scores = [trace_fact(adapter, ids, span, target, args.samples, 1.0, args.window, kind, 0,
                         args.batch_size, batched).scores for kind in KINDS]
    return time.perf_counter() - start, scores


def models(args):
    """(name, adapter, tokenizer, world) for a checkpoint or for random fact-world-shaped models."""
    if args.model:
        folder = Path(args.model)
        yield folder.name, load_model(folder).to(args.device), load_tokenizer(folder), find_world(folder, None)
        return
    world = generate_world(WorldConfig())
    tokenizer = train_tokenizer(world.corpus_text())
    torch.manual_seed(0)
    built = {}
    for family in FAMILY_ORDER:
        built[family] = (dream_from_qwen(built["qwen"], tokenizer) if family == "dream" else
                         new_model(family, tokenizer, args.hidden, args.layers, args.heads, 4 * args.hidden))
        yield family, built[family].eval().to(args.device), tokenizer, world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder (default: random models of every family)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"samples {args.samples}, window {args.window}, batch {args.batch_size} rows, "
          f"{args.threads} threads, {args.device}")
    print(f"{'model':<8} {'tokens':>6} {'cells':>6} {'batched s':>10} {'loop s':>9} {'speed-up':>9} {'max|diff|':>10}")
    for name, adapter, tokenizer, world in models(args):
        fact = longest_fact(world, tokenizer)
        timed(adapter, fact, args, batched=True)  # warm-up: first-call allocations and kernel choice
        batched, fast = timed(adapter, fact, args, batched=True)
        loop, slow = timed(adapter, fact, args, batched=False)
        diff = max((a - b).abs().max().item() for a, b in zip(fast, slow))
        tokens = fast[0].shape[1]
        print(f"{name:<8} {tokens:>6} {3 * adapter.num_layers * tokens:>6} {batched:>10.3f} {loop:>9.3f} "
              f"{loop / batched:>8.1f}x {diff:>10.1e}")
    print(f"prompt: {fact[3]!r} ({len(fact[0])} tokens)")


if __name__ == "__main__":
    main()
