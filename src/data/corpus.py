"""Generic text for key statistics, context prefixes and MDM adaptation: the fact world's own
sentences, the local Wikipedia sample, a local data set read by ``datasets``, or a text file."""
from __future__ import annotations

import bz2
import random
import re
from pathlib import Path

WIKI_MARKUP = [
    (re.compile(r"\{\{[^{}]*\}\}"), " "),              # templates
    (re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]"), r"\1"),  # links keep their label
    (re.compile(r"<[^>]+>|&[a-z]+;|'{2,}|={2,}"), " "),  # tags, entities, bold, headings
]


def _wikitext(path: Path) -> list[str]:
    raw = bz2.open(path, "rt", encoding="utf-8").read()
    paragraphs = []
    for page in re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S):
        for pattern, repl in WIKI_MARKUP:
            page = pattern.sub(repl, page)
        paragraphs += [" ".join(p.split()) for p in page.split("\n\n") if len(p.split()) >= 20]
    return paragraphs


def _datasets_texts(source: str) -> list[str]:
    """``datasets:<builder>:<data_files>[#<column>]``, e.g. ``datasets:json:/data/pages.jsonl#body``:
    local files read by ``datasets.load_dataset(builder, data_files=...)`` (column default "text")."""
    from datasets import load_dataset

    spec, _, column = source[len("datasets:"):].partition("#")
    builder, _, files = spec.partition(":")
    if not builder or not files:
        raise ValueError(f"corpus {source!r}: expected datasets:<builder>:<data_files>[#<column>]")
    table = load_dataset(builder, data_files=files, split="train")
    column = column or "text"
    if column not in table.column_names:
        raise ValueError(f"corpus {source!r}: no column {column!r}; columns: {table.column_names}")
    return [t for t in table[column] if isinstance(t, str) and t.strip()]


def load_texts(source: str, n: int, world=None, seed: int = 0) -> list[str]:
    """``n`` texts (or all there are, if fewer) of ``source``, in a seeded random order.

    ``factworld`` needs ``world``; ``wikitext`` reads enwiki-sample.xml.bz2 under the data
    root; ``datasets:<builder>:<data_files>[#<column>]`` reads local files through ``datasets``;
    anything else is a local text file, one text per non-empty line.
    """
    if source == "factworld":
        if world is None:
            raise ValueError("corpus 'factworld' needs the world the model was trained on")
        texts = [f"{p} {o}" for p, o in world.sentences()]
    elif source == "wikitext":
        from src.data.sources import data_root

        path = data_root() / "wikitext" / "enwiki-sample.xml.bz2"
        if not path.is_file():
            raise FileNotFoundError(f"corpus 'wikitext': {path} not found (set KE_DATA_ROOT)")
        texts = _wikitext(path)
    elif source.startswith("datasets:"):
        texts = _datasets_texts(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"corpus {source!r}: not 'factworld', 'wikitext', 'datasets:...' or an existing text file")
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:n]
