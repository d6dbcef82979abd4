"""Results writer: one JSON line per edit, a per-length ``summary.json``, and resumption.

Each rank appends to its own file while the run goes (nothing is lost if it stops); at the
end rank 0 merges them into ``edits.jsonl``. A rerun into the same log folder skips every
edit already recorded there, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch

from callbacks.efficacy import EfficacyPerLength
from src.evaluation.per_length import PerLengthRate, format_table

MEASURES = ("efficacy", "generalisation", "specificity")


def read_records(folder: Path) -> dict[str, dict]:
    """Every edit recorded in ``folder`` (merged file first, then the per-rank files)."""
    records: dict[str, dict] = {}
    for path in [folder / "edits.jsonl", *sorted(folder.glob("edits.rank*.jsonl"))]:
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    records[rec["case_id"]] = rec
    return records


def per_length(rows: list[dict]) -> dict[str, dict[int, float]]:
    """Per-length means of each measure over ``rows`` (dicts with ``target_length`` and the measures)."""
    table = {}
    for measure in MEASURES:
        metric = PerLengthRate(sync_on_compute=False)  # the records are already global
        scored = [r for r in rows if r.get(measure) is not None]
        if scored:
            metric.update(torch.tensor([r["target_length"] for r in scored]),
                          torch.tensor([float(r[measure]) for r in scored]))
            table[measure] = metric.compute()
    return table


def summarise(records: list[dict]) -> dict:
    """Per-length means of the three measures over the successful edits, the same under each
    extra decoder (``per_decoder``: name -> measure -> N -> value), efficacy per edit site
    (``per_site``: site -> N -> value) when measured, and the counts."""
    ok = [r for r in records if r["status"] == "ok"]
    names = list(dict.fromkeys(name for r in ok for name in r.get("decoders", {})))  # config order
    per_decoder = {name: per_length([{"target_length": r["target_length"], **r["decoders"][name]}
                                     for r in ok if name in r.get("decoders", {})]) for name in names}
    counts: dict[int, int] = {}
    for r in ok:
        counts[r["target_length"]] = counts.get(r["target_length"], 0) + 1
    summary = {"per_length": per_length(ok), "counts": counts, "edits": len(records), "ok": len(ok),
               "failed": len(records) - len(ok)}
    if per_decoder:
        summary["per_decoder"] = per_decoder
    sited = [r for r in ok if "sites" in r]
    if sited:
        # Teacher-forced efficacy with the update at each site (src.editing.sites): site -> N -> value.
        summary["per_site"] = {site: per_length([{"target_length": r["target_length"], "efficacy": r["sites"][site]}
                                                 for r in sited])["efficacy"] for site in sited[0]["sites"]}
    return summary


class ResultsWriter(L.Callback):
    """Writes ``edits.jsonl`` and ``summary.json`` into the run's log folder."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.folder = Path(trainer.log_dir or trainer.default_root_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.done = read_records(self.folder)
        trainer.datamodule.skip_ids = set(self.done)
        self.own = self.folder / f"edits.rank{trainer.global_rank}.jsonl"

    def _append(self, records: list[dict]) -> None:
        with self.own.open("a") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_rank == 0:
            failed = [{"case_id": cid, "request": req, "status": "failed", "reason": reason,
                       "method": type(pl_module).__name__, "family": pl_module.adapter.family}
                      for cid, reason, req in trainer.datamodule.rejected if cid not in self.done]
            self._append(failed)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if outputs and outputs.get("outcomes"):
            self._append(outputs["outcomes"])

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.strategy.barrier()
        if trainer.global_rank != 0:
            return
        records = read_records(self.folder)
        with (self.folder / "edits.jsonl").open("w") as f:
            for rec in records.values():
                f.write(json.dumps(rec) + "\n")
        for path in self.folder.glob("edits.rank*.jsonl"):
            path.unlink()
        summary = summarise(list(records.values()))
        summary["method"] = type(pl_module).__name__
        summary["family"] = pl_module.adapter.family
        summary["layers"] = pl_module.layers
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2))
        # EfficacyPerLength prints this run's table; the folder's differs once a run resumed.
        if self.done or not any(isinstance(cb, EfficacyPerLength) for cb in trainer.callbacks):
            print(f"\nAll edits recorded in {self.folder} (earlier runs included):")
            print(format_table(summary["per_length"], summary["counts"]))
        if "per_decoder" in summary:
            print("efficacy under each extra decoder:")
            print(format_table({name: t.get("efficacy", {}) for name, t in summary["per_decoder"].items()},
                               summary["counts"]))
        if "per_site" in summary:
            print("teacher-forced efficacy with each edit's update at these positions only:")
            print(format_table(summary["per_site"], summary["counts"]))
        print(f"{summary['ok']} edits measured, {summary['failed']} failed; results in {self.folder}")
