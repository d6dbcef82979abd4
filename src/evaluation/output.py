"""Where a measuring command's result goes: ``<out_dir>/<name>.json``, by default under
``runs/<name>/<family>`` (the folders ``python -m src.report`` reads)."""
from __future__ import annotations

import json
from pathlib import Path


def write_result(result: dict, out_dir: str | None, folder: str, name: str) -> Path:
    """Writes ``result`` to ``<out_dir or runs/<folder>/<family>>/<name>.json``, says where, returns the path."""
    out = Path(out_dir or Path("runs") / folder / result["family"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return path
