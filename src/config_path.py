"""Bare config names (``--config llada_corrected.yaml``) resolve inside ``configs/``."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def resolve_config(name: str, group: str | None = None) -> Path:
    """A path that exists is kept; otherwise look in ``configs/<group>/`` then ``configs/``
    (``.yaml`` may be left out). The error lists what is there."""
    path = Path(name)
    if path.is_file():
        return path
    stem = name if name.endswith((".yaml", ".yml")) else name + ".yaml"
    for folder in ([CONFIGS / group] if group else []) + [CONFIGS]:
        if (folder / stem).is_file():
            return folder / stem
    known = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml"))
    raise FileNotFoundError(f"config {name!r} not found as a path or in {CONFIGS}; shipped configs: {known}")


def resolve_argv(argv: list[str], group: str | None = None) -> list[str]:
    """Rewrites every ``--config NAME`` / ``--config=NAME`` in ``argv`` to a real path."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv):
            out += [arg, str(resolve_config(argv[i + 1], group))]
            i += 2
            continue
        if arg.startswith("--config="):
            arg = "--config=" + str(resolve_config(arg.split("=", 1)[1], group))
        out.append(arg)
        i += 1
    return out


def parse_dataclass(cls: type[T], argv: list[str], group: str, description: str | None = None) -> T:
    """``cls`` (a dataclass of options) from ``argv``: ``--config`` files resolved in
    ``configs/<group>/``, then each field as ``--<field>``; field docstrings become --help."""
    from jsonargparse import ActionConfigFile, ArgumentParser, set_parsing_settings

    set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(description=description)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_class_arguments(cls)
    ns = parser.parse_args(resolve_argv(list(argv), group))
    return cls(**{f.name: ns[f.name] for f in fields(cls)})
