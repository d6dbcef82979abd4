"""The kinds of result folder the report reads, recognised by their JSON files.

- a fit run (``python -m src.fit``): ``summary.json`` with ``per_length`` (callbacks/results.py),
  and the run's ``config.yaml`` for the masking schedule;
- a trace output (``python -m src.trace``): ``summary.json`` with ``effect``;
- a layer sweep (``python -m src.sweep``): ``sweep.json``;
- a reveal-context measurement (``python -m src.evaluation.reveal_context``): ``reveal.json``;
- an update-reach measurement (``python -m src.evaluation.update_reach``): ``reach.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from callbacks.results import MEASURES
from src.factworld.build import PREFIX
from src.models import FAMILIES

from .labels import edit_label, variant

__all__ = ["MEASURES", "FitRun", "TraceRun", "Sweep", "RevealRun", "ReachRun", "Result", "load", "load_fit", "lengths_of", "mean_over_lengths",
           "run_name", "entry_label",
           "layer_label", "as_window"]

PerLength = dict[str, dict[str, float]]  # measure -> {N (as JSON keys are): value}


def lengths_of(*tables: dict[str, float]) -> list[int]:
    """Every target length N that appears in any of ``tables``, ascending."""
    return sorted({int(n) for table in tables for n in table})


def mean_over_lengths(table: dict[str, float]) -> float | None:
    """Unweighted mean over target lengths (each N counts once, whatever its number of edits)."""
    return sum(table.values()) / len(table) if table else None


def as_window(entry: int | list[int]) -> list[int]:
    """A sweep entry (a layer, or a window of layers) as a list of layers."""
    return [entry] if isinstance(entry, int) else list(entry)


def layer_label(entry: int | list[int]) -> str:
    """"2" for layer 2, "1_2" for the window [1, 2]: a sweep's JSON key and (after "L") run folder."""
    return "_".join(map(str, as_window(entry)))


def entry_label(option: str, entry) -> str:
    """A sweep entry as its JSON key: a layer or window (``layer_label``), or another option's
    value: 2.0 -> "2", 0.75 -> "0.75"."""
    if option == "layers":
        return layer_label(entry)
    return f"{entry:g}" if isinstance(entry, (int, float)) and not isinstance(entry, bool) else str(entry)


def run_name(option: str, label: str) -> str:
    """The run folder of one sweep entry: "L2" for layer 2, "clamp_norm_factor_2" for another option."""
    return f"L{label}" if option == "layers" else f"{option}_{label}"


@dataclass
class FitRun:
    """One ``src.fit`` run folder."""

    folder: Path
    family: str
    method: str
    layers: list[int]
    per_length: PerLength
    counts: dict[str, int]
    schedule: str | None = None
    """``data.schedule`` of the run's config.yaml; None where that file is missing."""
    per_decoder: dict[str, PerLength] = field(default_factory=dict)
    subject_shift: bool = False
    """ROME with the shift at the subject's last token only (``through_update: false``)."""
    per_site: dict[str, dict[str, float]] = field(default_factory=dict)
    """Efficacy with each edit's update at one site (``edit_sites``): site -> N -> value."""
    keep_context: bool = False
    """ROME's update made blind to the edit prompts' other positions (``keep_context``)."""

    @property
    def name(self) -> str:
        """The folder's name; "<run>/<name>" for a run kept inside another run's folder
        (e.g. a robustness overlay's ``runs/llada_naive/robustness``)."""
        nested = (self.folder.parent / "summary.json").is_file()
        return f"{self.folder.parent.name}/{self.folder.name}" if nested else self.folder.name

    @property
    def is_mdm(self) -> bool:
        return self.family in FAMILIES and FAMILIES[self.family].kind == "mdm"

    @property
    def variant(self) -> str:
        """"naive", "corrected", "corrected (<schedule>)" or "" (``labels.variant``)."""
        return variant(self.is_mdm, self.schedule)

    @property
    def label(self) -> str:
        """Method, variant and layers, e.g. "ROME corrected L0", "MEMIT L0-1"."""
        shift = "subject shift, keep_context" if self.keep_context else "subject shift"
        method = f"{self.method} ({shift})" if self.subject_shift else self.method
        return edit_label(method, self.variant, self.layers)


@dataclass
class TraceRun:
    """One ``src.trace`` output folder; ``summary`` is its summary.json."""

    folder: Path
    family: str
    summary: dict


@dataclass
class Sweep:
    """One ``src.sweep`` folder; ``per_layer`` maps a layer label ("2", or "1_2" for a window),
    or the swept option's value, to that run's per-length table."""

    folder: Path
    name: str
    family: str
    method: str
    layers: list
    per_layer: dict[str, PerLength]
    best_layer: int | list[int] | float | None
    variant: str = ""
    """MDM edits: naive / corrected, read off the first layer's run folder (``labels.variant``)."""
    option: str = "layers"
    """The swept option: "layers", or another option of the edit method."""
    per_site: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Per swept value, the runs' ``per_site`` tables (where ``edit_sites`` was on)."""

    @classmethod
    def from_json(cls, folder: Path, data: dict) -> Sweep:
        """From ``sweep.json``'s content, and its first run folder for the variant."""
        option = data.get("option", "layers")
        first = folder / run_name(option, next(iter(data["per_layer"]), ""))
        kind = load_fit(first).variant if (first / "summary.json").is_file() else ""
        return cls(folder, data["name"], data["family"], data["method"], data["layers"], data["per_layer"],
                   data.get("best_layer"), kind, option, data.get("per_site", {}))

    @property
    def swept(self) -> str:
        """What the sweep varies, for labels: "layer" or the option's name."""
        return "layer" if self.option == "layers" else self.option

    @property
    def edit(self) -> str:
        """Family, method and variant, e.g. "llada ROME corrected"."""
        return " ".join(filter(None, [self.family, self.method, self.variant]))


@dataclass
class RevealRun:
    """One ``src.evaluation.reveal_context`` folder; ``result`` is its reveal.json."""

    folder: Path
    family: str
    result: dict


@dataclass
class ReachRun:
    """One ``src.evaluation.update_reach`` folder; ``result`` is its reach.json."""

    folder: Path
    family: str
    result: dict


def load_fit(folder: Path, summary: dict | None = None) -> FitRun:
    summary = summary if summary is not None else json.loads((folder / "summary.json").read_text())
    config = folder / "config.yaml"
    cfg = (yaml.safe_load(config.read_text()) or {}) if config.is_file() else {}
    schedule = cfg.get("data", {}).get("schedule")
    init = (cfg.get("model") or {}).get("init_args") or {}
    subject_shift = summary["method"] == "ROME" and init.get("through_update") is False
    return FitRun(folder, summary["family"], summary["method"], summary["layers"], summary["per_length"],
                  summary.get("counts", {}), schedule, summary.get("per_decoder", {}), subject_shift,
                  summary.get("per_site", {}), bool(init.get("keep_context")))


def _trace_family(folder: Path, summary: dict) -> str:
    # Summaries from before src.trace recorded the family: read it off factworld:<family>[@config].
    if "family" in summary:
        return summary["family"]
    model_path = summary.get("config", {}).get("model_path", "")
    return model_path[len(PREFIX):].split("@")[0] if model_path.startswith(PREFIX) else folder.name


# Every kind of folder the report reads.
Result = FitRun | TraceRun | Sweep | RevealRun | ReachRun


def load(folder: str | Path) -> Result:
    """Recognise ``folder`` as a sweep, a fit run, a trace output, a reveal-context or an
    update-reach measurement, and read it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if (folder / "sweep.json").is_file():
        return Sweep.from_json(folder, json.loads((folder / "sweep.json").read_text()))
    if (folder / "reveal.json").is_file():
        result = json.loads((folder / "reveal.json").read_text())
        return RevealRun(folder, result["family"], result)
    if (folder / "reach.json").is_file():
        result = json.loads((folder / "reach.json").read_text())
        return ReachRun(folder, result["family"], result)
    if (folder / "summary.json").is_file():
        summary = json.loads((folder / "summary.json").read_text())
        if "per_length" in summary:
            return load_fit(folder, summary)
        if "effect" in summary:
            return TraceRun(folder, _trace_family(folder, summary), summary)
        raise ValueError(f"{folder / 'summary.json'}: neither a fit summary (per_length) nor a trace summary (effect)")
    raise ValueError(f"{folder}: not a result folder: expected sweep.json (src.sweep), summary.json "
                     "(src.fit, src.trace), reveal.json (src.evaluation.reveal_context) or reach.json "
                     "(src.evaluation.update_reach)")
