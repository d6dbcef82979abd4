"""Markdown building blocks of the report: tables, percentages, figure links."""
from __future__ import annotations

from matplotlib.figure import Figure

Section = tuple[str, dict[str, Figure]]
"""A section's markdown and the figures it links to (name -> figure, saved as <name>.png)."""

NOT_HERE = "not available here"


def pct(value: float | None) -> str:
    """A rate in [0, 1] as a percentage with one decimal; "-" where there is none."""
    return "-" if value is None else f"{100 * value:.1f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def image(name: str, caption: str) -> str:
    """A link to ``<name>.png``, saved beside the markdown file."""
    return f"![{caption}]({name}.png)"
