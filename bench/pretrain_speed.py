"""Seconds per pretraining epoch of the fact-world models, by numeric mode, side by side.

    python -m bench.pretrain_speed                          # default world, llama and llada, all modes
    python -m bench.pretrain_speed --config tiny.yaml --batches 5 --modes fp32 bf16

Each mode trains a fresh model (the spec's shape, seeded alike) on the same batches of the spec's
pretraining text with the family's objective and the spec's optimizer: ``fp32`` (what ``src.factworld.train`` runs),
``bf16`` (CPU autocast to bfloat16), ``compile`` (``torch.compile`` of the network, dynamic
shapes; its compile time is excluded by warm-up batches), ``ddp`` (fp32 in two gloo processes
with half the threads each, each on half of every batch, gradients averaged as DDP averages
them: whether two one-thread processes use two cores better than one two-thread process),
``adamw`` and ``muon`` (fp32 with that optimizer instead of the spec's: what Muon's
orthogonalisation adds to a step).
The table gives seconds per epoch (scaled from ``--batches``) and each mode's ratio to fp32,
with the last loss as a sanity check.
"""
from __future__ import annotations

import argparse
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from src.factworld.build import ensure_world, training_budget
from src.factworld.data import FactDataModule
from src.factworld.families import new_model
from src.factworld.objectives import objective_for
from src.factworld.optim import OPTIMIZERS, pretrain_optimizer
from src.factworld.spec import load_spec
from src.factworld.text import training_samples

MODES = ("fp32", "bf16", "compile", "ddp", "adamw", "muon")
WARMUP = 3


def fresh(family: str, spec, tokenizer, optimizer: str | None = None):
    """A new model of the spec's shape (seeded alike in every mode), its objective and optimiser
    (the spec's, or ``optimizer``)."""
    torch.manual_seed(spec.seed)
    adapter = new_model(family, tokenizer, spec.hidden_size, spec.num_layers, spec.num_heads, spec.mlp_size)
    objective = objective_for(adapter, training_budget(spec, family)[1], spec.lr)
    opt = pretrain_optimizer(adapter, optimizer or spec.optimizer, spec.lr, objective.weight_decay, spec.muon_lr)
    return adapter, objective, opt


def timed(step, batches: list) -> tuple[float, float]:
    """(seconds per batch after the warm-up batches, the last loss)."""
    for batch in batches[:WARMUP]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[WARMUP:]:
        loss = step(batch)
    return (time.perf_counter() - start) / len(batches[WARMUP:]), loss


def seconds_per_batch(family: str, mode: str, spec, tokenizer, batches: list) -> tuple[float, float]:
    if mode == "ddp":
        return ddp_seconds_per_batch(family, spec, tokenizer, batches)
    adapter, objective, optimizer = fresh(family, spec, tokenizer, mode if mode in OPTIMIZERS else None)
    if mode == "compile":
        adapter.network = torch.compile(adapter.network, dynamic=True)

    def step(batch) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            loss = objective.loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    return timed(step, batches)


def ddp_worker(rank: int, port: int, threads: int, family: str, spec, tokenizer, batches: list, out) -> None:
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        adapter, objective, optimizer = fresh(family, spec, tokenizer)
        params = list(adapter.parameters())

        def step(batch) -> float:
            loss = objective.loss({k: v[rank::2] for k, v in batch.items()})
            loss.backward()
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            flat = torch.cat([g.flatten() for g in grads])
            dist.all_reduce(flat)  # one message per step, as DDP's buckets would be for a model this small
            offset = 0
            for p in params:
                p.grad = (flat[offset:offset + p.numel()] / 2).view_as(p)
                offset += p.numel()
            optimizer.step()
            optimizer.zero_grad()
            loss = loss.detach()
            dist.all_reduce(loss)
            return loss.item() / 2

        result = timed(step, batches)
        if rank == 0:
            out.put(result)
    finally:
        dist.destroy_process_group()


def ddp_seconds_per_batch(family: str, spec, tokenizer, batches: list) -> tuple[float, float]:
    """``timed`` over two gloo processes, each with half the threads (at least one) and half of each batch."""
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    threads = max(1, torch.get_num_threads() // 2)
    procs = [ctx.Process(target=ddp_worker, args=(rank, port, threads, family, spec, tokenizer, batches, out))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    try:
        result = out.get(timeout=1800)
    finally:
        for proc in procs:
            proc.join()
    if any(proc.exitcode for proc in procs):
        raise RuntimeError(f"ddp mode: a worker exited with {[proc.exitcode for proc in procs]}")
    return result


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
