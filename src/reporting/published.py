"""(e) Published numbers beside ours. The numbers live in ``published.json`` with their source;
whatever a source does not give is written "not available here", never filled in."""
from __future__ import annotations

import json
from pathlib import Path

from src.tracing import KINDS, peak

from .markdown import NOT_HERE, Section, pct, table
from .sections import sort_runs, trace_names
from .study import MEASURES, FitRun, TraceRun, lengths_of

PUBLISHED = Path(__file__).with_name("published.json")


def _harmonic(values: list[float | None]) -> float | None:
    """ROME's score S: harmonic mean of efficacy, generalisation and specificity."""
    if any(v is None for v in values):
        return None
    return 0.0 if 0 in values else len(values) / sum(1 / v for v in values)


def _published_pct(value: float | None) -> str:
    return NOT_HERE if value is None else pct(value)


def study_table(runs: list[FitRun], study: dict) -> str:
    """The study's per-length naive / corrected numbers beside every MDM run of ours."""
    ours = [r for r in sort_runs(runs) if r.is_mdm]
    published = study["per_length"]
    rows = []
    for measure in MEASURES:
        tables = [t.get(measure, {}) for t in published.values()] + [r.per_length.get(measure, {}) for r in ours]
        for n in lengths_of(*tables):
            rows.append([measure, str(n), *(_published_pct(published[v].get(measure, {}).get(str(n)))
                                            for v in published),
                         *(pct(r.per_length.get(measure, {}).get(str(n))) for r in ours)])
    header = ["measure", "N", *(f"study {v} (%)" for v in published), *(f"{r.name} (%)" for r in ours)]
    return table(header, rows)


def single_token_table(runs: list[FitRun], reference: dict) -> str:
    """CounterFact single-token numbers (the study's LLaDA, ROME's GPT-2 XL) beside ours at N=1."""
    sources = {"study (LLaDA-8B)": reference["mdm_study"]["counterfact_single_token"],
               "ROME (GPT-2 XL)": reference["rome"]["counterfact"]}
    rows = [[name, *(_published_pct(src.get(m)) for m in MEASURES), _published_pct(src.get("score"))]
            for name, src in sources.items()]
    for run in sort_runs(runs):
        at_one = [run.per_length.get(m, {}).get("1") for m in MEASURES]
        rows.append([f"ours: {run.name} ({run.family} {run.label}), N=1", *map(pct, at_one),
                     pct(_harmonic(at_one))])
    return table(["source", *(f"{m} (%)" for m in MEASURES), "S (%)"], rows)


def tracing_table(traces: list[TraceRun], rome: dict) -> str:
    """ROME's GPT-2 XL peak indirect effects beside each traced model's peaks."""
    rows = [["ROME (GPT-2 XL)", *(_published_pct(rome.get(k)) for k in KINDS), "layer ~15 of 48, last subject token"]]
    for name, trace in trace_names(traces).items():
        if trace.summary["effect"]:
            layer, group, _ = peak(trace.summary, "mlp")
            rows.append([f"ours: {name}", *(pct(peak(trace.summary, k)[2]) for k in KINDS),
                         f"MLP peak: layer {layer}, {group}"])
    return table(["source", *(f"peak {k} (%)" for k in KINDS), "where"], rows)


def load_published(path: Path = PUBLISHED) -> dict:
    return json.loads(path.read_text())


def study_lines(reference: dict, measure: str = "efficacy") -> dict[str, dict[str, dict[str, float]]]:
    """The study's per-length ``measure`` as figure lines: {family: {"study <variant>": {N: value}}}."""
    study = reference["mdm_study"]
    return {study["family"]: {f"study {variant} ({study['model']})": tables[measure]
                              for variant, tables in study["per_length"].items() if measure in tables}}


def published_section(runs: list[FitRun], traces: list[TraceRun], reference: dict) -> Section:
    study, rome = reference["mdm_study"], reference["rome"]
    parts = ["## Published numbers beside ours",
             f"Sources are listed with each table; published numbers are read from `src/reporting/{PUBLISHED.name}`. "
             "Ours come from the given folders; on the embedded fact world they share the measures' definitions "
             "but not the models, data or scale, so read the shape of the curves, not the levels.",
             f"### Multi-token edits by target length\n\nStudy: {study['source']} Setting: {study['setting']}.",
             study_table(runs, study),
             "### Single-token edits\n\n"
             f"Study: {study['counterfact_single_token']['setting']}. ROME: {rome['counterfact']['setting']}. "
             "Ours: target length 1 of each fit run; S is the harmonic mean of the three measures.",
             single_token_table(runs, reference),
             f"### Causal tracing\n\nROME: {rome['source']}; {rome['tracing']['setting']}. "
             "The study reports that tracing points at early-to-mid-layer MLPs at the last subject token "
             f"in both families; its numbers are {NOT_HERE}.",
             tracing_table(traces, rome["tracing"])]
    return "\n\n".join(parts), {}
