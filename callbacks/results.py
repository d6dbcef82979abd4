"""Results writer: one JSON line per edit, a per-length ``summary.json``, and resumption.

Each rank appends to its own file while the run goes (nothing is lost if it stops); at the
end rank 0 merges them into ``edits.jsonl``. A rerun into the same log folder skips every
edit already recorded there, so an interrupted run resumes where it stopped: a line torn by
the stop is set aside in ``<file>.torn``, and a rerun whose options would change the edits
(``options.json``) is refused rather than mixed into the folder's results.
"""
from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch

from callbacks.efficacy import EfficacyPerLength
from src.atomic import write_text
from src.evaluation.per_length import PerLengthRate, format_table

MEASURES = ("efficacy", "generalisation", "specificity")


OPTIONS_FILE = "options.json"


class NothingToEdit(ValueError):
    """No request of the run's source can be edited; the rejections are recorded with their reasons."""


def record_files(folder: Path) -> list[Path]:
    """The merged file first, then the per-rank files."""
    return [p for p in [folder / "edits.jsonl", *sorted(folder.glob("edits.rank*.jsonl"))] if p.is_file()]


def read_records(folder: Path) -> dict[str, dict]:
    """Every edit recorded in ``folder``."""
    records: dict[str, dict] = {}
    for path in record_files(folder):
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[rec["case_id"]] = rec
    return records


def set_aside_torn_lines(folder: Path) -> None:
    """Move every line that is not a whole record (a run killed mid-write, a full disk) from the
    folder's record files to ``<file>.torn``, keeping it, so that the run can resume."""
    for path in record_files(folder):
        whole, torn = [], []
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                json.loads(line)["case_id"]
                whole.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                torn.append(line)
        if torn:
            side = path.with_name(path.name + ".torn")
            with side.open("a") as f:
                f.writelines(line + "\n" for line in torn)
            write_text(path, "".join(line + "\n" for line in whole))
            print(f"{path}: {len(torn)} torn line(s) set aside in {side}; their edits run again")


def run_options(trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, dict]:
    """The options that decide what the folder's edits are, as the command line names them."""
    method = type(pl_module)
    model = {"--model.class_path": f"{method.__module__}.{method.__qualname__}"}
    model |= {f"--model.init_args.{k}": v for k, v in pl_module.hparams.items()}
    data = {f"--data.{k}": v for k, v in trainer.datamodule.hparams.items()
            if k not in getattr(trainer.datamodule, "SELECTION_OPTIONS", ())}
    return json.loads(json.dumps({"model": model, "data": data}, sort_keys=True, default=str))


def check_options(folder: Path, options: dict[str, dict]) -> None:
    """Refuse to add edits made with other options to a folder's results (they would be skipped
    as done, or mixed into one summary), naming each option that differs."""
    file = folder / OPTIONS_FILE
    if not file.is_file() or not record_files(folder):
        return
    before = json.loads(file.read_text())
    # Options only one side knows (added to the code since) are left out: they keep their defaults.
    differ = [f"{name} {json.dumps(before[part][name])} (now {json.dumps(value)})"
              for part in options for name, value in options[part].items()
              if name in before.get(part, {}) and before[part][name] != value]
    if differ:
        raise ValueError(f"{folder} holds edits made with other options: {'; '.join(differ)}. Rerun with "
                         "those to resume, or give another --trainer.logger.init_args.name (or version) "
                         "for a new folder")


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
    (``per_site``: site -> N -> value) when measured, the means per relation (``per_relation``)
    where the edits span several, and the counts."""
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
        # Efficacy with the update at each site (src.editing.sites): site -> N -> value.
        summary["per_site"] = {site: per_length([{"target_length": r["target_length"], "efficacy": r["sites"][site]}
                                                 for r in sited])["efficacy"] for site in sited[0]["sites"]}
    relations = sorted({r["request"].get("relation") for r in ok} - {None})
    if len(relations) > 1:
        summary["per_relation"] = {rel: relation_means([r for r in ok if r["request"].get("relation") == rel])
                                   for rel in relations}
    return summary


def relation_means(rows: list[dict]) -> dict[str, float]:
    """One relation's edits: each measure's mean over all its lengths (and each edit site's), and their count.
    An edit's wording is its relation's, so where an edit acts can differ by relation (update_reach)."""
    means: dict[str, float] = {"n": len(rows)}
    for measure in MEASURES:
        scored = [float(r[measure]) for r in rows if r.get(measure) is not None]
        if scored:
            means[measure] = sum(scored) / len(scored)
    for site in rows[0].get("sites", {}):
        means[site] = sum(r["sites"][site] for r in rows) / len(rows)
    return means


class ResultsWriter(L.Callback):
    """Writes ``edits.jsonl`` and ``summary.json`` into the run's log folder."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.folder = Path(trainer.log_dir or trainer.default_root_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        options = run_options(trainer, pl_module)
        # Before SaveConfigCallback (appended after the configs' callbacks) overwrites config.yaml.
        check_options(self.folder, options)
        if trainer.global_rank == 0:
            set_aside_torn_lines(self.folder)
            write_text(self.folder / OPTIONS_FILE, json.dumps(options, indent=2) + "\n")
        trainer.strategy.barrier()
        self.done = read_records(self.folder)
        trainer.datamodule.skip_ids = set(self.done)
        self.own = self.folder / f"edits.rank{trainer.global_rank}.jsonl"
        self._record_rejected(trainer.datamodule, pl_module, trainer.global_rank)
        if not trainer.datamodule.cases:
            self._nothing_to_edit(trainer, pl_module)

    def _append(self, records: list[dict]) -> None:
        with self.own.open("a") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")

    def _record_rejected(self, data, pl_module, rank: int) -> None:
        # At setup, not at the fit's start: a fit with no batches left never starts.
        new = [(cid, reason, req) for cid, reason, req in data.rejected if cid not in self.done]
        if rank != 0 or not new:
            return
        self._append([{"case_id": cid, "request": req, "status": "failed", "reason": reason,
                       "method": type(pl_module).__name__, "family": pl_module.adapter.family}
                      for cid, reason, req in new])
        print(f"{len(new)} requests rejected, each recorded with its reason in {self.folder} "
              f"(first: {new[0][0]}: {new[0][1]})")

    def _nothing_to_edit(self, trainer, pl_module) -> None:
        data = trainer.datamodule
        source = data.hparams.path or data.hparams.source
        if trainer.global_rank == 0:
            self._merge(pl_module)
        if data.rejected:
            raise NothingToEdit(f"nothing to edit: all {len(data.rejected)} requests of {source} were rejected, "
                                f"each recorded with its reason in {self.folder / 'edits.jsonl'} "
                                f"(first: {data.rejected[0][0]}: {data.rejected[0][1]})")
        raise NothingToEdit(f"nothing to edit: {source} gives no requests with these options "
                            "(--data.target_lengths, --data.per_length, --data.limit)")

    def _merge(self, pl_module) -> dict:
        """Every rank's records into ``edits.jsonl`` and the folder's ``summary.json``; returns the summary."""
        records = read_records(self.folder)
        write_text(self.folder / "edits.jsonl", "".join(json.dumps(rec) + "\n" for rec in records.values()))
        # Only now: until the merged file is whole, the rank files hold this run's records.
        for path in self.folder.glob("edits.rank*.jsonl"):
            path.unlink()
        summary = summarise(list(records.values()))
        summary["method"] = type(pl_module).__name__
        summary["family"] = pl_module.adapter.family
        summary["layers"] = pl_module.layers
        write_text(self.folder / "summary.json", json.dumps(summary, indent=2))
        return summary

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if outputs and outputs.get("outcomes"):
            self._append(outputs["outcomes"])

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.strategy.barrier()
        if trainer.global_rank != 0:
            return
        summary = self._merge(pl_module)
        # EfficacyPerLength prints this run's table; the folder's differs once a run resumed.
        if self.done or not any(isinstance(cb, EfficacyPerLength) for cb in trainer.callbacks):
            print(f"\nAll edits recorded in {self.folder} (earlier runs included):")
            print(format_table(summary["per_length"], summary["counts"]))
        if "per_decoder" in summary:
            print("efficacy under each extra decoder:")
            print(format_table({name: t.get("efficacy", {}) for name, t in summary["per_decoder"].items()},
                               summary["counts"]))
        if "per_site" in summary:
            print("efficacy (own decoder) with each edit's update at these positions only:")
            print(format_table(summary["per_site"], summary["counts"]))
        print(f"{summary['ok']} edits measured, {summary['failed']} failed; results in {self.folder}")
