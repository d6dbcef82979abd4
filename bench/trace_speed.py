"""Time to trace one fact (hidden, MLP and attention): one cell per forward pass, batched, and
batched with the layers below the restored one replayed from the corrupted run.

    python -m bench.trace_speed                        # random models of the fact-world shape, all families
    python -m bench.trace_speed --model PATH           # a checkpoint: its world's longest prompt
    python -m bench.trace_speed --model smollm2 --no-loop   # no world: the first known_1000 fact

The ways run side by side on the same fact; the table also shows they agree (max |diff|).
"""
from __future__ import annotations

import argparse
import time

import torch

from src.factworld import WorldConfig, generate_world, train_tokenizer
from src.factworld.families import FAMILY_ORDER, dream_from_qwen, new_model
from src.factworld.tokens import encode_target
from src.data.sources.known import load_known
from src.models import load_model, load_tokenizer
from src.models.resolve import resolve_model_path
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


def known_fact(tokenizer) -> tuple[list[int], tuple[int, int], list[int], str]:
    fact = load_known()[0]
    ids, span = subject_span(tokenizer, fact.prompt, fact.subject_start, fact.subject_start + len(fact.subject))
    return ids, span, encode_target(tokenizer, fact.object), fact.prompt


def timed(adapter, fact, args, batched: bool, replay: bool) -> tuple[float, list[torch.Tensor]]:
    ids, span, target, _ = fact
    start = time.perf_counter()
    scores = [trace_fact(adapter, ids, span, target, args.samples, 1.0, args.window, kind, 0,
                         args.batch_size, batched, replay).scores for kind in KINDS]
    return time.perf_counter() - start, scores


def models(args):
    """(name, adapter, tokenizer, world) for a checkpoint or for random fact-world-shaped models."""
    if args.model:
        folder = resolve_model_path(args.model)
        has_world = (folder / "world.json").is_file() or (folder.parent / "world.json").is_file()
        yield (folder.name, load_model(folder).to(args.device), load_tokenizer(folder),
               find_world(folder, None) if has_world else None)
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
    parser.add_argument("--model", help="checkpoint folder, factworld:<family>, smollm2 or gguf:<file> "
                        "(default: random models of every family)")
    parser.add_argument("--no-loop", action="store_true", help="skip one cell per pass (slow on a real model)")
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
    print(f"{'model':<8} {'tokens':>6} {'cells':>6} {'replay s':>9} {'batched s':>10} {'loop s':>9} "
          f"{'batched/replay':>15} {'loop/replay':>12} {'max|diff|':>10}")
    for name, adapter, tokenizer, world in models(args):
        fact = longest_fact(world, tokenizer) if world is not None else known_fact(tokenizer)
        ids, span, target, _ = fact  # warm-up (first-call allocations, kernel choice): one noise sample, hidden
        trace_fact(adapter, ids, span, target, 1, 1.0, args.window, "hidden", 0, args.batch_size)
        replay, fast = timed(adapter, fact, args, batched=True, replay=True)
        batched, plain = timed(adapter, fact, args, batched=True, replay=False)
        loop, slow = timed(adapter, fact, args, batched=False, replay=False) if not args.no_loop else (float("nan"), plain)
        diff = max((a - b).abs().max().item() for other in (plain, slow) for a, b in zip(fast, other))
        tokens = fast[0].shape[1]
        print(f"{name:<8} {tokens:>6} {3 * adapter.num_layers * tokens:>6} {replay:>9.3f} {batched:>10.3f} "
              f"{loop:>9.3f} {batched / replay:>14.2f}x {loop / replay:>11.1f}x {diff:>10.1e}")
    print(f"prompt: {fact[3]!r} ({len(fact[0])} tokens)")


if __name__ == "__main__":
    main()
