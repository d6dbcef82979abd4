"""The gain of one edit method over another on the same edits, with a bootstrap interval.

Naive and corrected runs of one config edit the same requests (same seed, same case_ids), so
their difference is best read edit by edit: with 100 edits per length, two unpaired rates of
0.80 and 0.85 are within each other's noise, while the paired difference says how many edits
the correction won and lost. Per target length N: the mean per-edit difference (other - base),
a percentile bootstrap interval over edits, and how many edits each run scored higher.

    python -m src.evaluation.paired runs/llada_naive runs/llada_corrected
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class PairedGain:
    """One target length's paired difference, as a share (0.05 = 5 points)."""

    n: int
    gain: float
    low: float
    high: float
    better: int
    """Edits the other run scored higher than the base run."""
    worse: int
    """Edits the base run scored higher."""


def read_records(folder: str | Path) -> dict[str, dict]:
    """A run's ``edits.jsonl`` by case_id; a missing file names the folder."""
    path = Path(folder) / "edits.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no edits.jsonl (not a src.fit run folder, or no edit finished)")
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {str(r["case_id"]): r for r in rows}


def paired_gain(base: dict[str, dict], other: dict[str, dict], measure: str = "efficacy",
                n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[int, PairedGain]:
    """Per target length, ``other``'s gain over ``base`` on the edits both measured (records
    as ``read_records`` gives them; an edit that failed in either run, or lacks ``measure``, is
    left out). Raises ValueError when no edit is shared or ``level`` is not in (0, 1)."""
    if not 0 < level < 1:
        raise ValueError(f"level={level}: a confidence level in (0, 1), e.g. 0.95")
    by_length: dict[int, list[float]] = {}
    for case_id, b in base.items():
        o = other.get(case_id)
        if o is None or b.get(measure) is None or o.get(measure) is None:
            continue
        if b["target_length"] != o["target_length"]:
            raise ValueError(f"edit {case_id}: target length {b['target_length']} in one run, "
                             f"{o['target_length']} in the other; are these runs of the same requests?")
        by_length.setdefault(int(b["target_length"]), []).append(float(o[measure]) - float(b[measure]))
    if not by_length:
        raise ValueError(f"the two runs share no edit with a {measure!r} score (different requests or seeds?)")
    rng = random.Random(seed)
    tail = (1 - level) / 2
    result = {}
    for length in sorted(by_length):
        diffs = by_length[length]
        means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(n_boot))
        result[length] = PairedGain(
            n=len(diffs), gain=sum(diffs) / len(diffs),
            low=means[int(tail * (n_boot - 1))], high=means[round((1 - tail) * (n_boot - 1))],
            better=sum(d > 0 for d in diffs), worse=sum(d < 0 for d in diffs))
    return result


def format_gains(gains: dict[int, PairedGain], level: float = 0.95) -> str:
    lines = [f"N   edits  gain (points)  {100 * level:g}% interval    better  worse"]
    lines += [f"{n:<3} {g.n:>5}  {100 * g.gain:>+13.1f}  [{100 * g.low:+.1f}, {100 * g.high:+.1f}]"
              f"  {g.better:>6}  {g.worse:>5}" for n, g in gains.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[int, PairedGain]:
    parser = argparse.ArgumentParser(prog="python -m src.evaluation.paired", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="run folder of the base method (e.g. runs/llada_naive)")
    parser.add_argument("other", help="run folder of the method compared with it (e.g. runs/llada_corrected)")
    parser.add_argument("--measure", default="efficacy", choices=["efficacy", "generalisation", "specificity"])
    parser.add_argument("--n_boot", type=int, default=2000, help="bootstrap resamples of the edits")
    parser.add_argument("--level", type=float, default=0.95, help="the interval's confidence level")
    parser.add_argument("--out", help="also write the gains as JSON here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.n_boot < 1:
        parser.error(f"--n_boot {args.n_boot}: at least 1")
    try:
        gains = paired_gain(read_records(args.base), read_records(args.other), args.measure, args.n_boot, args.level)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"python -m src.evaluation.paired: {err}")
    print(f"{args.measure}: {args.other} against {args.base}, per target length\n{format_gains(gains, args.level)}")
    if args.out:
        Path(args.out).write_text(json.dumps({str(n): asdict(g) for n, g in gains.items()}, indent=2))
    return gains


if __name__ == "__main__":
    main()
