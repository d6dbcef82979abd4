"""Edits per second for batches of 1, 16 and 64 independent edits, side by side in one run.

    python -m bench.edit_throughput --config llama_rome.yaml --edits 64

Every batch size edits the same requests; the table also gives mean efficacy per batch size
so that the speed-up is read at equal efficacy. Throughput is measured on the edit loop (each
group's optimisation, closed-form update and evaluation, summed from the records' ``time_s``);
the whole fit's wall time, which adds model loading and Lightning set-up, is shown beside it.
Only the table is printed: each fit's own output is captured (and shown if that fit fails),
and its results folder is a temporary one, removed at the end.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from src.fit import main as fit
from src.quiet import captured_output


def run(config: str, batch: int, edits: int, folder: Path, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds of the fit, seconds inside the edit loop, mean efficacy)."""
    start = time.perf_counter()
    with captured_output():
        fit(["--config", config, "--data.batch_size", str(batch), "--data.limit", str(edits),
             "--model.init_args.max_batch", str(max(batch, 1)),
             "--trainer.logger.init_args.save_dir", str(folder), "--trainer.logger.init_args.name", f"b{batch}",
             "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra])
    seconds = time.perf_counter() - start
    recs = [json.loads(line) for line in (folder / f"b{batch}" / "edits.jsonl").read_text().splitlines()]
    ok = [r for r in recs if r["status"] == "ok"]
    # time_s is each edit's share of its group's time, so the sum is the loop's time.
    loop = sum(r["time_s"] for r in ok)
    return seconds, loop, sum(r["efficacy"] for r in ok) / max(len(ok), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="llama_rome.yaml")
    parser.add_argument("--edits", type=int, default=64, help="requests edited at every batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    args, extra = parser.parse_known_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: trains/loads the models and caches the key statistics outside the timings.
        run(args.config, 1, 1, Path(tmp) / "warmup", extra)
        for batch in args.batches:
            wall, loop, efficacy = run(args.config, batch, args.edits, Path(tmp), extra)
            rows.append((batch, wall, loop, args.edits / loop, efficacy))
    base = rows[0][3]
    print(f"\n{'batch':>5} {'fit s':>7} {'loop s':>7} {'edits/s':>8} {'speed-up':>8} {'efficacy':>8}")
    for batch, wall, loop, rate, efficacy in rows:
        print(f"{batch:>5} {wall:>7.1f} {loop:>7.1f} {rate:>8.2f} {rate / base:>7.1f}x {efficacy:>8.3f}")


if __name__ == "__main__":
    main()
