"""ROME-style figures: hidden/MLP/attention heatmaps (per fact and averaged) and effect-by-layer lines."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on the machines this runs on
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .summary import GROUPS  # noqa: E402
from .trace import TraceResult  # noqa: E402

CMAPS = {"hidden": "Purples", "mlp": "Greens", "attn": "Reds"}
TITLES = {"hidden": "hidden state", "mlp": "MLP", "attn": "attention"}


def _heatmaps(tables: dict[str, Sequence[Sequence[float]]], labels: list[str], title: str,
              kind: str | None = None) -> Figure:
    """One panel per entry; ``tables[name]`` is [rows, layers]. Entries are kinds, or, given
    ``kind``, models traced for that one kind (NaN rows stay blank)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 0.3 * len(labels) + 1.8),
                             squeeze=False, constrained_layout=True)
    for ax, (name, table) in zip(axes[0], tables.items()):
        image = ax.pcolormesh(table, cmap=CMAPS[kind or name], shading="flat")
        ax.invert_yaxis()
        ax.set_yticks([i + 0.5 for i in range(len(labels))], labels, fontsize=7)
        ax.set_xlabel("layer")
        ax.set_title(f"{name}: restored {TITLES[kind]}" if kind else f"restored {TITLES[name]}", fontsize=9)
        fig.colorbar(image, ax=ax, label="indirect effect")
    fig.suptitle(title, fontsize=10)
    return fig


def fact_figure(results: dict[str, TraceResult], labels: list[str], title: str = "") -> Figure:
    """The three heatmaps of one fact; ``labels`` name the traced tokens (subject ones get a *)."""
    first = next(iter(results.values()))
    s, e = first.subject_span
    rows = [f"{label}*" if s <= i < e else label for i, label in enumerate(labels[:first.scores.shape[1]])]
    return _heatmaps({k: r.effect.T.tolist() for k, r in results.items()}, rows, title)


def average_figure(summary: dict) -> Figure:
    """The three heatmaps averaged over facts, one row per token group."""
    groups = list(next(iter(summary["effect"].values())))
    tables = {k: [per_group[g] for g in groups] for k, per_group in summary["effect"].items()}
    return _heatmaps(tables, groups, f"average indirect effect over {summary['n_facts'] - summary['n_skipped']} facts")


def models_figure(summaries: dict[str, dict], kind: str = "mlp") -> Figure:
    """The averaged ``kind`` heatmap of several traced models side by side (name -> trace summary);
    rows are the token groups any of them has, blank where one has none (ARMs: no [MASK]s)."""
    groups = [g for g in GROUPS if any(g in s["effect"].get(kind, {}) for s in summaries.values())]
    tables = {}
    for name, summary in summaries.items():
        effect = summary["effect"].get(kind, {})
        layers = len(next(iter(effect.values()), []))
        tables[name] = [effect.get(g, [float("nan")] * layers) for g in groups]
    return _heatmaps(tables, groups, f"average indirect effect of the restored {TITLES[kind]}", kind)


def lines_figure(summary: dict) -> Figure:
    """Average indirect effect by layer, one panel per kind, one line per token group."""
    kinds = list(summary["effect"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, kind in zip(axes[0], kinds):
        for group, values in summary["effect"][kind].items():
            ax.plot(range(len(values)), values, marker="o", markersize=3, label=group)
        ax.set_title(f"restored {TITLES[kind]}", fontsize=9)
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel("average indirect effect")
    axes[0][-1].legend(fontsize=7)
    return fig


def save_figures(figures: dict[str, Figure], out_dir: str | Path) -> list[Path]:
    """Write each figure as ``<name>.png`` under ``out_dir`` and close it."""
    paths = []
    for name, fig in figures.items():
        path = Path(out_dir) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def log_figures(writer, figures: dict[str, Figure], step: int = 0) -> None:
    """Add each figure to a TensorBoard ``SummaryWriter`` under ``trace/<name>`` (figures stay open)."""
    for name, fig in figures.items():
        writer.add_figure(f"trace/{name}", fig, global_step=step, close=False)
