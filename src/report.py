"""The study report: ``python -m src.report runs/llama_rome runs/trace/llama runs/sweep/llama_rome ...``.

Each folder given is recognised as a fit run, a trace output, a layer sweep, a reveal-context or
an update-reach measurement (src/reporting/study.py); one markdown file is written with its PNG
figures beside it: edits against target length, the correction's gain edit by edit, tracing
heatmaps of all traced models, layer sweeps, decoder robustness, where edits act, where the written
update reaches, whether the MDMs read revealed object tokens, and published numbers beside ours. Folders that are missing or not recognised are named (on stderr and in the
report's inputs) and left out; the report stops only when no folder given can be read.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from src.reporting.markdown import table
from src.reporting.published import load_published, published_section, study_lines
from src.reporting.sections import (decoders_section, lengths_section, paired_section, reach_section,
                                     reveal_section, sites_section, sweeps_section, tracing_section)
from src.reporting.study import FitRun, ReachRun, RevealRun, Result, Sweep, TraceRun, load
from src.tracing import save_figures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m src.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="fit run, trace output, sweep, reveal-context and update-reach folders")
    parser.add_argument("--out", default="reports/report.md", help="markdown file; figures go beside it")
    return parser.parse_args(argv)


def load_all(folders: list[str]) -> tuple[list[Result], list[str]]:
    """The folders that can be read, and one line per folder that cannot (it names the folder)."""
    results, missing = [], []
    for folder in folders:
        try:
            results.append(load(folder))
        except (FileNotFoundError, ValueError) as err:
            missing.append(str(err))
    return results, missing


def write_report(results: list[Result], out: str | Path,
                 missing: list[str] | None = None) -> Path:
    """The markdown file at ``out`` and its figures beside it; ``missing`` (folders given but not
    read, with the reason) is listed under the inputs."""
    runs = [r for r in results if isinstance(r, FitRun)]
    traces = [r for r in results if isinstance(r, TraceRun)]
    sweeps = [r for r in results if isinstance(r, Sweep)]
    reveals = [r for r in results if isinstance(r, RevealRun)]
    reaches = [r for r in results if isinstance(r, ReachRun)]
    inputs = table(["folder", "kind", "family"],
                   [[str(r.folder), type(r).__name__, r.family] for r in results])
    reference = load_published()
    sections = [lengths_section(runs, study_lines(reference)), paired_section(runs), tracing_section(traces),
                sweeps_section(sweeps), decoders_section(runs), sites_section(runs), reach_section(reaches),
                reveal_section(reveals), published_section(runs, traces, reference)]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _, figures in sections:
        save_figures(figures, path.parent)
    left_out = ["Given but not read (left out of every section):", *(f"- {line}" for line in missing)] if missing else []
    text = "\n\n".join(["# Knowledge editing in masked diffusion LMs: report", "## Inputs", inputs,
                        *(["\n".join(left_out)] if left_out else []), *(markdown for markdown, _ in sections)])
    path.write_text(text + "\n")
    print(f"wrote {path} and {sum(len(f) for _, f in sections)} figures beside it"
          + (f"; {len(missing)} folder(s) given were left out (named in its inputs)" if missing else ""))
    return path


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results, missing = load_all(args.folders)
    if not results:
        sys.exit("python -m src.report: none of the folders given can be read:\n  " + "\n  ".join(missing))
    for line in missing:
        print(f"left out: {line}", file=sys.stderr)
    return write_report(results, args.out, missing)


if __name__ == "__main__":
    main()
