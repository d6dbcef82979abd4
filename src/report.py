"""The study report: ``python -m src.report runs/llama_rome runs/trace/llama runs/sweep/llama_rome ...``.

Each folder given is recognised as a fit run, a trace output, a layer sweep or a reveal-context
measurement (src/reporting/study.py); one markdown file is written with its PNG figures beside it:
edits against target length, tracing heatmaps of all traced models, layer sweeps, decoder
robustness, where edits act, whether the MDMs read revealed object tokens, and published numbers
beside ours.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from src.reporting.markdown import table
from src.reporting.published import load_published, published_section, study_lines
from src.reporting.sections import (decoders_section, lengths_section, reveal_section, sites_section,
                                     sweeps_section, tracing_section)
from src.reporting.study import FitRun, RevealRun, Sweep, TraceRun, load
from src.tracing import save_figures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="fit run, trace output, sweep and reveal-context folders")
    parser.add_argument("--out", default="reports/report.md", help="markdown file; figures go beside it")
    return parser.parse_args(argv)


def write_report(results: list[FitRun | TraceRun | Sweep | RevealRun], out: str | Path) -> Path:
    """The markdown file at ``out`` and its figures beside it."""
    runs = [r for r in results if isinstance(r, FitRun)]
    traces = [r for r in results if isinstance(r, TraceRun)]
    sweeps = [r for r in results if isinstance(r, Sweep)]
    reveals = [r for r in results if isinstance(r, RevealRun)]
    inputs = table(["folder", "kind", "family"],
                   [[str(r.folder), type(r).__name__, r.family] for r in results])
    reference = load_published()
    sections = [lengths_section(runs, study_lines(reference)), tracing_section(traces), sweeps_section(sweeps),
                decoders_section(runs), sites_section(runs), reveal_section(reveals),
                published_section(runs, traces, reference)]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _, figures in tqdm(sections, desc="figures"):
        save_figures(figures, path.parent)
    text = "\n\n".join(["# Knowledge editing in masked diffusion LMs: report", "## Inputs", inputs,
                        *(markdown for markdown, _ in sections)])
    path.write_text(text + "\n")
    print(f"wrote {path} and {sum(len(f) for _, f in sections)} figures beside it")
    return path


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        results = [load(folder) for folder in args.folders]
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"python -m src.report: {err}")
    return write_report(results, args.out)


if __name__ == "__main__":
    main()
