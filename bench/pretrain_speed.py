"""Seconds per pretraining epoch of the fact-world models, by numeric mode, side by side.

    python -m bench.pretrain_speed                          # default world, llama and llada, all modes
    python -m bench.pretrain_speed --config tiny.yaml --batches 5 --modes fp32 bf16

Each mode trains a fresh model (the spec's shape, seeded alike) on the same batches of the spec's
pretraining text with the family's objective: ``fp32`` (what ``src.factworld.train`` runs),
``bf16`` (CPU autocast to bfloat16), ``compile`` (``torch.compile`` of the network, dynamic
shapes; its compile time is excluded by warm-up batches). The table gives seconds per epoch
(scaled from ``--batches``) and each mode's ratio to fp32, with the last loss as a sanity check.
"""
from __future__ import annotations

import argparse
import time

import torch

from src.factworld.build import ensure_world, training_budget
from src.factworld.data import FactDataModule
from src.factworld.families import new_model
from src.factworld.objectives import objective_for
from src.factworld.spec import load_spec
from src.factworld.text import training_samples

MODES = ("fp32", "bf16", "compile")
WARMUP = 3


def seconds_per_batch(family: str, mode: str, spec, tokenizer, batches: list) -> tuple[float, float]:
    torch.manual_seed(spec.seed)
    adapter = new_model(family, tokenizer, spec.hidden_size, spec.num_layers, spec.num_heads, spec.mlp_size)
    objective = objective_for(adapter, training_budget(spec, family)[1], spec.lr)
    if mode == "compile":
        adapter.network = torch.compile(adapter.network, dynamic=True)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=spec.lr)

    def step(batch) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = objective.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    for batch in batches[:WARMUP]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[WARMUP:]:
        loss = step(batch)
    return (time.perf_counter() - start) / len(batches[WARMUP:]), loss


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.pretrain_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="factworld.yaml", help="Pretraining spec (configs/pretrain/).")
    parser.add_argument("--families", nargs="+", default=["llama", "llada"], choices=["llama", "qwen", "llada"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--batches", type=int, default=12, help="Timed batches per mode (after warm-up).")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = load_spec(args.config)
    assets = ensure_world(spec)
    tokenizer = assets.tokenizer()
    samples = training_samples(assets.world(), tokenizer, spec.text, spec.biographies, spec.seed)
    loader = FactDataModule(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, spec.batch_size,
                            spec.eos_prob, spec.seed, spec.mdm_tie_copies).train_dataloader()
    epoch = list(loader)
    batches = epoch[:WARMUP + args.batches]
    print(f"{args.config}: {len(samples)} samples, {len(epoch)} batches per epoch, {args.threads} thread(s)")
    print(f"{'family':<7} {'mode':<8} {'s / epoch':>10} {'vs fp32':>8} {'last loss':>10}")
    rows = []
    for family in args.families:
        base = None
        for mode in args.modes:
            per_batch, loss = seconds_per_batch(family, mode, spec, tokenizer, batches)
            base = base or (per_batch if mode == "fp32" else None)
            ratio = f"{per_batch / base:.2f}x" if base else "-"
            print(f"{family:<7} {mode:<8} {per_batch * len(epoch):>10.1f} {ratio:>8} {loss:>10.3f}", flush=True)
            rows.append({"family": family, "mode": mode, "seconds_per_epoch": per_batch * len(epoch), "loss": loss})
    return rows


if __name__ == "__main__":
    main()
