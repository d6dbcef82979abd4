"""Generic text for key statistics and context prefixes: the fact world's own sentences, the
local Wikipedia sample, or any local text file."""
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


def load_texts(source: str, n: int, world=None, seed: int = 0) -> list[str]:
    """``n`` texts (or all there are, if fewer) of ``source``, in a seeded random order.

    ``factworld`` needs ``world``; ``wikitext`` reads enwiki-sample.xml.bz2 under the data
    root; anything else is a local text file, one text per non-empty line.
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
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"corpus {source!r}: not 'factworld', 'wikitext' or an existing text file")
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(texts)
    return texts[:n]
