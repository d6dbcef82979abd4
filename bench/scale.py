"""What an 8B-shaped model costs, side by side in one run: load, key statistics, edits, a trace.

    python -m bench.scale --family llada --layers 2
    python -m bench.scale --family dream --layers 2 --compare

On a random-weight folder at full width (``bench.shaped``, written on first use): load time; C
for the edit layer (tokens/s on ``--c-texts`` texts, and the time the configured sample of
``--c-sample`` texts would take at that rate); seconds per edit at each ``--batches`` size for ROME
and MEMIT with the correction (``configs/real/<family>_*_corrected.yaml`` with CPU-sized
overrides: ``--steps``, ``--n-prefixes``, ``--n-neighbors``); one causal trace; and for every part
its peak memory (CPU RSS of the process doing it, sampled every 5 ms; CUDA max allocated where
CUDA is used). Each edit run is its own ``python -m src.fit`` process, so its peak is its own.
``--compare`` also runs each fix's previous code path in the same run (the head applied at every
position; C from full forward passes with float64 products; a dense solve of C per group).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import torch
from tqdm.auto import tqdm

CORRECTED = {"llada": "real/llada_8b_corrected.yaml", "dream": "real/dream_7b_corrected.yaml"}
ARM_CONFIG = {"llama": "real/llama3_8b_memit.yaml", "qwen": "real/qwen25_7b_rome.yaml"}
GB = 1 << 30


@contextmanager
def peak_memory(process: psutil.Process | None = None):
    """Yields a dict that gets ``rss_gb`` (peak RSS of ``process``, default this one, over the
    block) and ``cuda_gb`` (max allocated, None without CUDA) when the block ends."""
    process = process or psutil.Process()
    out, done = {"rss_gb": 0.0, "cuda_gb": None}, threading.Event()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    def poll():
        while not done.is_set():
            try:
                out["rss_gb"] = max(out["rss_gb"], process.memory_info().rss / GB)
            except psutil.NoSuchProcess:
                return
            done.wait(0.005)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        if torch.cuda.is_available():
            out["cuda_gb"] = torch.cuda.max_memory_allocated() / GB


def wikitext_ids(tokenizer, n: int) -> list[list[int]]:
    from src.data.corpus import load_texts

    return [tokenizer(t, truncation=True, max_length=64)["input_ids"] for t in load_texts("wikitext", n)]


def key_statistics(adapter, layer: int, texts: list[list[int]], **options) -> tuple[float, torch.Tensor, dict]:
    """(tokens per second, C, memory) of ``key_second_moment`` on ``texts``."""
    from src.editing.stats import key_second_moment

    with peak_memory() as mem:
        start = time.perf_counter()
        moment = key_second_moment(adapter, layer, texts, **options)
        seconds = time.perf_counter() - start
    return sum(map(len, texts)) / seconds, moment, mem


def whitening(moment: torch.Tensor, keys: int, device) -> tuple[float, float]:
    """(seconds of one dense float64 solve of C for ``keys`` keys, as every group paid before;
    seconds of the Cholesky factor, paid once per layer, plus one group's solves with it).
    C from a short sample is singular; a ridge of 1e-3 x its mean diagonal makes it
    factorable (timing only)."""
    from src.editing.rank_one import Whitener

    C = moment + 1e-3 * moment.diagonal().mean() * torch.eye(moment.shape[0], dtype=moment.dtype)
    k = torch.randn(keys, C.shape[0], dtype=torch.float64, device=device)
    start = time.perf_counter()
    torch.linalg.solve(C.to(k), k.T)
    dense = time.perf_counter() - start
    start = time.perf_counter()
    Whitener(C, device)(k)
    return dense, time.perf_counter() - start


def fit_command(config: str, folder: Path, out: Path, name: str, method: str, layers: list[int], batch: int,
                args: argparse.Namespace, head_at_positions: bool) -> list[str]:
    overrides = [
        "--config", config, "--model.class_path", f"src.editing.{method}",
        "--model.init_args.model_path", str(folder), "--model.init_args.dtype", args.dtype,
        "--model.init_args.layers", json.dumps(layers), "--model.init_args.max_batch", str(batch),
        "--model.init_args.mom2_source", "null" if args.edit_mom2 == "null" else "corpus",
        "--model.init_args.mom2_samples", str(args.edit_mom2_samples), "--model.init_args.mom2_dtype", "float32",
        "--data.limit", str(batch), "--data.batch_size", str(batch), "--data.steps", str(args.steps),
        "--data.n_prefixes", str(args.n_prefixes), "--data.n_neighbors", str(args.n_neighbors),
        "--trainer.logger.init_args.save_dir", str(out), "--trainer.logger.init_args.name", name,
        "--trainer.accelerator", args.accelerator,
    ]
    code = ("import sys; from src.models.base import ModelAdapter; "
            f"ModelAdapter.head_at_positions = {head_at_positions}; "
            "from src.fit import main; main(sys.argv[1:])")
    return [sys.executable, "-c", code, *overrides]


def run_fit(command: list[str], out: Path, name: str) -> dict:
    """Seconds per edit (mean of the records' ``time_s``: each group's optimisation, update and
    evaluation, per edit) and the process's peak memory."""
    log = out / f"{name}.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        with peak_memory(psutil.Process(process.pid)) as mem:
            code = process.wait()
    records = out / name / "edits.jsonl"
    if code or not records.is_file():
        raise RuntimeError(f"{name}: src.fit exited with {code}; see {log}:\n{log.read_text()[-3000:]}")
    ok = [json.loads(line) for line in records.read_text().splitlines()]
    ok = [r for r in ok if r["status"] == "ok"]
    if not ok:
        raise RuntimeError(f"{name}: no edit succeeded; see {records}")
    return {"s_per_edit": sum(r["time_s"] for r in ok) / len(ok), "edits": len(ok), **mem}


def trace_one(adapter, tokenizer) -> tuple[float, dict]:
    from src.tracing import trace_fact

    prompt, subject = "The mother tongue of Danielle Darrieux is", "Danielle Darrieux"
    enc = tokenizer(prompt, return_offsets_mapping=True)
    start = prompt.index(subject)
    inside = [i for i, (a, b) in enumerate(enc["offset_mapping"])
              if a < b and a < start + len(subject) and b > start]
    target = tokenizer(" French", add_special_tokens=False)["input_ids"]
    with peak_memory() as mem:
        begin = time.perf_counter()
        trace_fact(adapter, enc["input_ids"], (inside[0], inside[-1] + 1), target, kind="hidden")
        seconds = time.perf_counter() - begin
    return seconds, mem


def row(table: list, part: str, setting: str, value: str, mem: dict) -> None:
    cuda = f"{mem['cuda_gb']:.2f}" if mem.get("cuda_gb") is not None else "-"
    table.append((part, setting, value, f"{mem['rss_gb']:.2f}", cuda))
    tqdm.write(" | ".join(table[-1]))  # as it comes: a long run's log keeps the finished parts


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="llada", choices=sorted(CORRECTED))
    parser.add_argument("--layers", type=int, default=2, help="depth of the shaped folder (full width)")
    parser.add_argument("--folder", help="a checkpoint folder to use instead of the shaped one")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--accelerator", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--methods", nargs="+", default=["ROME", "MEMIT"])
    parser.add_argument("--steps", type=int, default=25, help="optimisation steps per edit (the configs: 25)")
    parser.add_argument("--n-prefixes", type=int, default=10, help="context prefixes (the configs: 10)")
    parser.add_argument("--n-neighbors", type=int, default=5, help="specificity prompts per edit")
    parser.add_argument("--c-texts", type=int, default=64, help="texts C is timed on")
    parser.add_argument("--c-sample", type=int, default=10000, help="the configured C sample (mom2_samples)")
    parser.add_argument("--edit-mom2", default="corpus", choices=["corpus", "null"],
                        help="C in the edit runs (null: identity, skips computing C there)")
    parser.add_argument("--edit-mom2-samples", type=int, default=400,
                        help="texts of C in the edit runs: enough tokens (<= 64 each) for C to be invertible at d_ff")
    parser.add_argument("--compare", action="store_true", help="also time each fix's previous code path")
    args = parser.parse_args(argv)

    from bench.shaped import write_shaped
    from src.factworld.build import cache_root
    from src.models import load_model, load_tokenizer

    folder = Path(args.folder) if args.folder else cache_root() / "shaped" / f"{args.family}-L{args.layers}"
    if not (folder / "config.json").is_file():
        print(f"writing {folder}")
        write_shaped(args.family, args.layers, folder)
    table: list[tuple] = []
    device = torch.device("cuda" if args.accelerator in ("cuda", "gpu") else "cpu")
    parts = tqdm(total=4 + len(args.methods) * len(args.batches) + (2 if args.compare else 0), desc="bench.scale")

    with peak_memory() as mem:
        start = time.perf_counter()
        adapter = load_model(folder, dtype=getattr(torch, args.dtype)).to(device)
        tokenizer = load_tokenizer(folder)
        load_s = time.perf_counter() - start
    row(table, "load", f"{args.dtype}, {sum(p.numel() for p in adapter.parameters()) / 1e9:.2f}B params",
        f"{load_s:.1f} s", mem)
    parts.update()
    layer = args.layers - 1
    weight_gb = adapter.edit_module(layer).weight.numel() * adapter.edit_module(layer).weight.element_size() / GB

    texts = wikitext_ids(tokenizer, args.c_texts)
    sample_tokens = sum(map(len, wikitext_ids(tokenizer, args.c_sample)))
    with torch.no_grad():
        rate, moment, mem = key_statistics(adapter, layer, texts)
    row(table, "C, edit layer", f"{sum(map(len, texts))} tokens, d {moment.shape[0]}",
        f"{rate:.0f} tok/s; {sample_tokens} tokens of {args.c_sample} texts: {sample_tokens / rate / 60:.1f} min", mem)
    parts.update()
    if args.compare:
        with torch.no_grad():
            old_rate, _, mem = key_statistics(adapter, layer, texts, stop_at_site=False, product_dtype=torch.float64)
        row(table, "C, before", "full forward, float64 product",
            f"{old_rate:.0f} tok/s; sample: {sample_tokens / old_rate / 60:.1f} min", mem)
        dense, factored = whitening(moment, max(args.batches), device)
        row(table, "C^-1 k, before / after", f"{max(args.batches)} keys",
            f"dense solve {dense:.1f} s per group / Cholesky once + solves {factored:.1f} s", {"rss_gb": 0.0})
        parts.update(2)
    del moment

    with torch.no_grad():
        trace_s, mem = trace_one(adapter, tokenizer)
    row(table, "trace one fact", "hidden, 10 noise samples", f"{trace_s:.1f} s", mem)
    parts.update()
    del adapter
    parts.update()

    config = CORRECTED[args.family]
    peaks: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        runs = [(m, b, True) for m in args.methods for b in args.batches]
        if args.compare:
            runs.append(("ROME", max(args.batches), False))
        for method, batch, head_fix in runs:
            layers = [layer]  # ROME's layer; MEMIT's window of one at this depth (C computed once)
            name = f"{method}_b{batch}" + ("" if head_fix else "_fullhead")
            result = run_fit(fit_command(config, folder, out, name, method, layers, batch, args, head_fix), out, name)
            setting = f"{method}, batch {batch}" + ("" if head_fix else ", head at every position (before)")
            row(table, "edit", setting, f"{result['s_per_edit']:.2f} s/edit ({result['edits']} edits)", result)
            if head_fix:
                peaks.setdefault(method, {})[batch] = result["rss_gb"]
            parts.update()
    parts.close()

    print(f"\n{args.family}-shaped, {args.layers} layers, full width, {args.dtype} on {device}; edits: "
          f"{args.steps} steps, {args.n_prefixes} prefixes, {args.n_neighbors} neighbours, C {args.edit_mom2}")
    widths = [max(len(str(r[i])) for r in table + [("part", "setting", "result", "peak RSS GB", "CUDA GB")])
              for i in range(5)]
    for r in [("part", "setting", "result", "peak RSS GB", "CUDA GB")] + table:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    for method, by_batch in peaks.items():
        lo, hi = min(by_batch), max(by_batch)
        if hi > lo:
            growth = (by_batch[hi] - by_batch[lo]) / (hi - lo)
            verdict = "<" if growth < weight_gb else ">="
            print(f"{method}: peak RSS grows {growth * 1024:.0f} MB per edit in the batch ({lo} -> {hi}) "
                  f"{verdict} one edit matrix ({weight_gb * 1024:.0f} MB)")
    return table


if __name__ == "__main__":
    main()
