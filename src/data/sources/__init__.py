"""Registry of request sources: ``load_requests("counterfact" | "zsre" | "kamel", path, **kw)``."""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..requests import RequestSet
from .counterfact import load_counterfact
from .native import load_native
from .kamel import KamelFact, KamelRead, length_controlled_requests, load_kamel, read_kamel, read_kamel_facts
from .zsre import load_zsre

LOADERS: dict[str, Callable[..., RequestSet]] = {
    "counterfact": load_counterfact, "zsre": load_zsre, "kamel": load_kamel, "requests": load_native,
}
# Default file (or folder) of each source under the data root.
DEFAULT_PATHS = {
    "counterfact": "counterfact/counterfact-edit.json",
    "zsre": "zsre/zsre_mend_train-1k.json",
    "kamel": "kamel",
}


def data_root() -> Path:
    """$KE_DATA_ROOT, else the shared data folder beside the repository (never inside it)."""
    return Path(os.environ.get("KE_DATA_ROOT") or Path(__file__).resolve().parents[4] / "shared" / "data")


def load_requests(source: str, path: str | Path | None = None, **kw) -> RequestSet:
    if source not in LOADERS:
        raise ValueError(f"unknown request source {source!r}; known: {sorted(LOADERS)}")
    return LOADERS[source](path if path is not None else data_root() / DEFAULT_PATHS[source], **kw)


def rejection_reasons(found: RequestSet | KamelRead) -> Counter[str]:
    """Rejected records per kind of reason: each message's reason with its quoted values,
    relation ids, numbers and parenthesised details blanked, so that alike reasons count together."""
    kinds: Counter[str] = Counter()
    for _, message in found.rejected:
        reason = message.split("): ", 1)[-1]
        reason = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", reason)
        reason = re.sub(r"\bP\d+\b", "P…", reason)
        kinds[re.sub(r"\d+", "N", re.sub(r" \(.*", "", reason))] += 1
    return kinds


def describe(found: RequestSet) -> str:
    """``source: N loaded, M rejected`` and the rejections by kind, most frequent first."""
    reasons = ", ".join(f"{n} {kind}" for kind, n in rejection_reasons(found).most_common())
    return found.summary() + (f" ({reasons})" if reasons else "")


__all__ = ["LOADERS", "DEFAULT_PATHS", "data_root", "load_requests", "rejection_reasons", "describe",
           "load_counterfact", "load_zsre", "load_kamel", "read_kamel", "read_kamel_facts",
           "length_controlled_requests", "KamelFact", "RequestSet"]
