"""``python -m src.fit --help``: the shipped configs and the options users change, in one screen.

Config lines are the first sentence of each config's leading comment; option lines are the
init docstrings of the data module and the edit method, so this help cannot drift from them.
``--help-all`` still gives LightningCLI's full help (every Trainer option).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from docstring_parser import parse

from src.config_path import CONFIGS

PROG = "python -m src.fit"
DATA_OPTIONS = ("source", "path", "target_lengths", "per_length", "limit", "batch_size", "steps", "schedule")
MODEL_OPTIONS = ("model_path", "layers", "lr")
RUN_OPTIONS = {
    "--trainer.default_root_dir DIR": "parent of the run folder (default runs/): results go to DIR/<config name>/",
    "--trainer.logger.init_args.name NAME": "the run folder's name (default: the config's name)",
    "--trainer.devices N": "GPUs to use, with --trainer.accelerator gpu (and --trainer.strategy ddp for N > 1)",
}
GROUPS = {"": "main configs (fact world)", "robustness": "overlays (add after a main config)",
          "real": "real checkpoints (need --model.init_args.model_path FOLDER)"}


WIDTH = 100


def config_summary(path: Path) -> str:
    """The first sentence of the config's leading ``#`` comment block."""
    lines: list[str] = []
    for line in path.read_text().splitlines():
        text = line.lstrip("# ").strip()
        # A comment line starting in upper case starts the next sentence.
        if not line.startswith("#") or (lines and text[:1].isupper()):
            break
        lines.append(text)
        if text.endswith((".", ":")):
            break
    return " ".join(lines).split(". ")[0].rstrip(".:")


def _arg_docs(init) -> dict[str, str]:
    return {p.arg_name: " ".join((p.description or "").replace("``", "").split())
            for p in parse(init.__doc__ or "").params}


def _rows(rows: dict[str, str], wrap: bool) -> list[str]:
    """Two columns; the text wrapped under itself, or (``wrap`` False) cut to one line."""
    width = max(map(len, rows))
    out = []
    for name, text in rows.items():
        room = WIDTH - width - 4
        lines = textwrap.wrap(text, room) if wrap else [textwrap.shorten(text, room, placeholder=" ...")]
        out.append(f"  {name:<{width}}  {lines[0] if lines else ''}")
        out += [" " * (width + 4) + more for more in lines[1:]]
    return out


def short_help() -> str:
    from src.data.datamodule import EditDataModule
    from src.editing.method import EditMethod

    data, model = _arg_docs(EditDataModule.__init__), _arg_docs(EditMethod.__init__)
    intro = ("Runs a config's edits as one Lightning fit and prints efficacy / generalisation / specificity "
             "per target length. Results go to runs/<config name>/ (edits.jsonl, summary.json, "
             "loss_curves.png); a rerun resumes and skips the edits already there. A bare config name "
             "resolves in configs/.")
    parts = [f"usage: {PROG} --config NAME.yaml [--config OVERLAY.yaml] [--OPTION VALUE ...]", "",
             *textwrap.wrap(intro, WIDTH)]
    for group, title in GROUPS.items():
        folder = CONFIGS / group if group else CONFIGS
        paths = sorted(folder.glob("*.yaml"))
        names = {str(p.relative_to(CONFIGS)): config_summary(p) for p in paths}
        parts += ["", f"{title}:", *_rows(names, wrap=False)]
    options = {f"--data.{name}": data[name] for name in DATA_OPTIONS}
    options |= {f"--model.init_args.{name}": model[name] for name in MODEL_OPTIONS}
    options |= RUN_OPTIONS
    parts += ["", "options users change (any option of the config can be given the same way):",
              *_rows(options, wrap=True), "",
              f"example: {PROG} --config llama_rome.yaml --data.per_length 20 --model.init_args.layers '[1]'",
              f"every option with Lightning's full help: {PROG} --help-all"]
    return "\n".join(parts)
