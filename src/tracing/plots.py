"""ROME-style figures: hidden/MLP/attention heatmaps (per fact and averaged) and effect-by-layer lines."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on the machines this runs on
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .summary import GROUPS  # noqa: E402
from .trace import TraceResult, window_layers  # noqa: E402

CMAPS = {"hidden": "Purples", "mlp": "Greens", "attn": "Reds"}
TITLES = {"hidden": "hidden state", "mlp": "MLP", "attn": "attention"}


def window_note(kind: str, window: int | None, num_layers: int) -> str:
    """How many layers one cell restores, e.g. "10-layer window, each spans all 4 layers": hidden
    states one layer at a time, MLP and attention outputs over ``window`` layers centred on the
    cell's layer (clipped at the model's ends)."""
    if kind == "hidden" or not window or window == 1:
        return "one layer"
    spans = {tuple(window_layers(layer, window, num_layers)) for layer in range(num_layers)}
    whole = spans == {tuple(range(num_layers))}
    return f"{window}-layer window, " + (f"each spans all {num_layers} layers" if whole else "clipped at the ends")


def restored(kind: str, window: int | None, num_layers: int) -> str:
    """A panel title, e.g. "restored MLP (10-layer window, each spans all 4 layers)"."""
    return f"restored {TITLES[kind]} ({window_note(kind, window, num_layers)})"


def _window(summary: dict) -> int | None:
    return (summary.get("config") or {}).get("window")


def _layer_ticks(layers: int) -> range:
    """Every layer up to 16 of them, else every k-th: 30 labels on a 4-inch axis overlap."""
    return range(0, layers, 1 if layers <= 16 else -(-layers // 10))


def _heatmaps(panels: dict[str, tuple[Sequence[Sequence[float]], str]], labels: list[str], title: str) -> Figure:
    """One heatmap per panel title: (table [rows, layers], kind for the colour map); NaN rows stay
    blank. Layer ticks sit at the cell centres."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.3 * len(labels) + 1.8),
                             squeeze=False, constrained_layout=True)
    for ax, (name, (table, kind)) in zip(axes[0], panels.items()):
        image = ax.pcolormesh(table, cmap=CMAPS[kind], shading="flat")
        ax.invert_yaxis()
        ax.set_yticks([i + 0.5 for i in range(len(labels))], labels, fontsize=7)
        layers = len(table[0]) if len(table) else 0
        shown = _layer_ticks(layers)
        ax.set_xticks([i + 0.5 for i in shown], [str(i) for i in shown])
        ax.set_xlabel("layer")
        ax.set_title(name, fontsize=8)
        fig.colorbar(image, ax=ax, label="indirect effect (probability)")
    fig.suptitle(title, fontsize=10)
    return fig


def fact_figure(results: dict[str, TraceResult], labels: list[str], title: str = "") -> Figure:
    """The three heatmaps of one fact; ``labels`` name the traced tokens (subject ones get a *)."""
    first = next(iter(results.values()))
    s, e = first.subject_span
    rows = [f"{label}*" if s <= i < e else label for i, label in enumerate(labels[:first.scores.shape[1]])]
    panels = {restored(k, r.window, r.scores.shape[0]): (r.effect.T.tolist(), k) for k, r in results.items()}
    return _heatmaps(panels, rows, title)


def _layers(effect: dict[str, dict[str, list[float]]]) -> int:
    return max((len(v) for per_group in effect.values() for v in per_group.values()), default=0)


def average_figure(summary: dict) -> Figure:
    """The three heatmaps averaged over facts, one row per token group."""
    groups = list(next(iter(summary["effect"].values())))
    layers = _layers(summary["effect"])
    panels = {restored(k, _window(summary), layers): ([per_group[g] for g in groups], k)
              for k, per_group in summary["effect"].items()}
    family = summary.get("family", "")
    facts = summary["n_facts"] - summary["n_skipped"]
    return _heatmaps(panels, groups, f"{family}: average indirect effect over {facts} facts".lstrip(": "))


def models_figure(summaries: dict[str, dict], kind: str = "mlp") -> Figure:
    """The averaged ``kind`` heatmap of several traced models side by side (name -> trace summary);
    rows are the token groups any of them has, blank where one has none (ARMs: no [MASK]s)."""
    groups = [g for g in GROUPS if any(g in s["effect"].get(kind, {}) for s in summaries.values())]
    panels = {}
    for name, summary in summaries.items():
        effect = summary["effect"].get(kind, {})
        layers = len(next(iter(effect.values()), []))
        table = [effect.get(g, [float("nan")] * layers) for g in groups]
        panels[f"{name} ({window_note(kind, _window(summary), layers)})"] = (table, kind)
    return _heatmaps(panels, groups, f"average indirect effect of the restored {TITLES[kind]}, per model")


def lines_figure(summary: dict) -> Figure:
    """Average indirect effect by layer, one panel per kind, one line per token group."""
    kinds = list(summary["effect"])
    layers = _layers(summary["effect"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, kind in zip(axes[0], kinds):
        for group, values in summary["effect"][kind].items():
            ax.plot(range(len(values)), values, marker="o", markersize=3, label=group)
        ax.set_xticks(_layer_ticks(layers))
        ax.set_title(restored(kind, _window(summary), layers), fontsize=8)
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel("average indirect effect (probability)")
    axes[0][-1].legend(fontsize=7)
    family = summary.get("family", "")
    fig.suptitle(f"{family}: average indirect effect by layer".lstrip(": "), fontsize=10)
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
