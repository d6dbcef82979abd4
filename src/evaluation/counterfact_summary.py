"""Average the CounterFact measures of a run's records: ``python -m src.evaluation.counterfact_summary runs/<name>``.

Reads ``edits.jsonl`` (records written by the ``*CounterFact`` methods of
``src.editing.counterfact_scores``), writes ``counterfact.json`` beside it and prints one line:
ROME's ES / PS / NS / S (S = harmonic mean of the three averages, as ROME), EM / PM / NM,
fluency (edited, and unedited on the same prompts), and EasyEdit's Reliability / Generalisation / Locality, all as fractions.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from src.evaluation.counterfact import harmonic_mean

MEASURES = ("ES", "PS", "NS", "EM", "PM", "NM", "fluency", "fluency_unedited", "reliability", "generalisation_tf", "locality")


def summarize(folder: str | Path) -> dict:
    records = [json.loads(line) for line in (Path(folder) / "edits.jsonl").read_text().splitlines() if line.strip()]
    scored = [r["counterfact"] for r in records if r.get("status") == "ok" and r.get("counterfact")]
    if not scored:
        raise ValueError(f"{folder}: no record with CounterFact measures (run a *CounterFact method)")
    out: dict = {"n_edits": len(scored)}
    for m in MEASURES:
        values = [s[m] for s in scored if s.get(m) is not None]
        out[m] = sum(values) / len(values) if values else None
    out["S"] = harmonic_mean([out["ES"], out["PS"], out["NS"]]) if None not in (out["ES"], out["PS"], out["NS"]) else None
    out["seconds_per_edit"] = sum(r["time_s"] for r in records if r.get("status") == "ok") / len(scored)
    (Path(folder) / "counterfact.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        s = summarize(folder)
        print(folder, " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()))
