"""The report's figures: per-length curves of fit runs, the correction's paired gain, layer-sweep
curves, and reveal context.

Tracing heatmaps come from ``src.tracing.plots``; the figures here only read the JSON that
``summary.json``, ``sweep.json`` and ``reveal.json`` hold, so they can be redrawn without rerunning anything.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display on the machines this runs on
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from src.evaluation.paired import PairedGain  # noqa: E402
from src.evaluation.update_reach import GROUPS  # noqa: E402

from .study import MEASURES, FitRun, ReachRun, RevealRun, Sweep, lengths_of  # noqa: E402

# update_reach's position groups shown in the report (the subject's last token is 1 by definition).
REACH_GROUPS = tuple(group for group in GROUPS if group != "subject_last")


def length_figure(runs: list[FitRun], measure: str = "efficacy",
                  references: dict[str, dict[str, dict[str, float]]] | None = None) -> Figure:
    """``measure`` against target length N: one panel per family, one line per run; ``references``
    (family -> line label -> {N: value}) add dashed lines of published numbers to that family's panel."""
    families = list(dict.fromkeys(run.family for run in runs))
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.4), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, family in zip(axes[0], families):
        for run in (r for r in runs if r.family == family):
            values = run.per_length.get(measure, {})
            lengths = lengths_of(values)
            ax.plot(lengths, [100 * values[str(n)] for n in lengths], marker="o", label=run.label)
        for style, (label, values) in zip(("--", ":", "-."), (references or {}).get(family, {}).items()):
            lengths = lengths_of(values)
            ax.plot(lengths, [100 * values[str(n)] for n in lengths], style, marker="x", color="grey", label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(family)
        ax.set_xlabel("target length N (tokens)")
        ax.set_ylim(-3, 103)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"{measure} (%)")
    return fig


def gain_figure(gains: list[tuple[str, str, dict[int, PairedGain]]]) -> Figure:
    """The corrected edit's paired gain over the naive one against target length: one panel per
    family, one line per (family, label, gains) with its bootstrap interval as error bars."""
    families = list(dict.fromkeys(family for family, _, _ in gains))
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 4.6), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, family in zip(axes[0], families):
        lines = [(label, g) for f, label, g in gains if f == family]
        for k, (label, g) in enumerate(lines):
            lengths = sorted(g)
            # Side by side, so that intervals at one N do not hide each other.
            x = [n + 0.08 * (k - (len(lines) - 1) / 2) for n in lengths]
            mid = [100 * g[n].gain for n in lengths]
            err = [[100 * (g[n].gain - g[n].low) for n in lengths], [100 * (g[n].high - g[n].gain) for n in lengths]]
            ax.errorbar(x, mid, yerr=err, marker="o", capsize=3, label=label)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(family)
        ax.set_xlabel("target length N (tokens)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))  # below: the bars fill the panel
    axes[0][0].set_ylabel("corrected - naive efficacy (points)")
    return fig


def sweep_figure(sweep: Sweep) -> Figure:
    """Each measure against the swept layer, window or option value: one panel per measure (and
    one for efficacy with the update at the subject only, where the runs scored it), one line per N."""
    labels = list(sweep.per_layer)
    panels = [(m, [sweep.per_layer[label].get(m, {}) for label in labels]) for m in MEASURES]
    if sweep.per_site:
        panels.append(("efficacy, update at the subject only",
                       [sweep.per_site.get(label, {}).get("subject_only", {}) for label in labels]))
    if sweep.option != "layers":
        xlabel = sweep.option
    else:
        xlabel = "edited layer" if all("_" not in label for label in labels) else "edited window"
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, (title, by_label) in zip(axes[0], panels):
        for n in lengths_of(*by_label):
            ax.plot(range(len(labels)), [100 * t.get(str(n), float("nan")) for t in by_label],
                    marker="o", label=f"N={n}")
        ax.set_xticks(range(len(labels)), [label.replace("_", ",") for label in labels])
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-3, 103)
    axes[0][0].set_ylabel("rate (%)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{sweep.edit} {sweep.swept} sweep ({sweep.name}); best: {sweep.best_layer}", fontsize=10)
    return fig


REVEAL_LINES = {("new_object", "masked"): ("new object, all masked", "-", "tab:red"),
                ("new_object", "others_revealed"): ("new object, others revealed", "-", "tab:blue"),
                ("true_object", "masked"): ("true object, all masked", ":", "tab:red"),
                ("true_object", "others_revealed"): ("true object, others revealed", ":", "tab:blue")}


def reveal_figure(reveals: list[RevealRun]) -> Figure:
    """Mean NLL of object token j, fully masked against every other token revealed: one panel per
    family (``src.evaluation.reveal_context``)."""
    fig, axes = plt.subplots(1, len(reveals), figsize=(4 * len(reveals), 3.4), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, run in zip(axes[0], reveals):
        for (which, state), (label, style, color) in REVEAL_LINES.items():
            if which in run.result:
                values = run.result[which][state]
                ax.plot(range(len(values)), values, style, marker="o", color=color, label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{run.family}, N = {run.result['length']}")
        ax.set_xlabel("object token j")
    axes[0][0].set_ylabel("mean NLL (nats)")
    axes[0][0].legend(fontsize=7)
    return fig


def reach_figure(reaches: list[ReachRun], layer: str) -> Figure:
    """Left: the share of ROME's written update at each position group, per family, at ``layer``.
    Right: per relation, that share at the last prompt token against the last token's attention
    to the subject in the same layer (the families that record it: ARMs)."""
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    width = 0.8 / len(reaches)
    for i, run in enumerate(reaches):
        groups = run.result["layers"][layer]
        values = [groups.get(g, {}).get("mean", float("nan")) for g in REACH_GROUPS]
        bars.bar([x + i * width for x in range(len(REACH_GROUPS))], values, width, label=run.family)
        relations = run.result["by_relation"][layer]
        points = [(row["last"]["attention_to_subject"], row["last"]["mean"], name)
                  for name, row in relations.items() if "attention_to_subject" in row.get("last", {})]
        if points:
            scatter.scatter([a for a, _, _ in points], [c for _, c, _ in points], label=run.family)
            for a, c, name in points:
                scatter.annotate(name, (a, c), fontsize=7, xytext=(3, 3), textcoords="offset points")
    bars.set_xticks([x + 0.4 - width / 2 for x in range(len(REACH_GROUPS))],
                    [g.replace("_", " ") for g in REACH_GROUPS], fontsize=8)
    bars.set_ylabel("mean c_p (1 at the subject's last token)")
    bars.set_title(f"where the update acts, layer {layer}")
    bars.legend(fontsize=7)
    scatter.set_xlabel("attention from the last token to the subject")
    scatter.set_ylabel("c at the last token")
    scatter.set_title(f"per relation, layer {layer}")
    if scatter.collections:
        scatter.legend(fontsize=7)
    return fig
