"""Every loader on the whole of each shipped set in $KE_DATA_ROOT: every record is loaded or
rejected with its reason, and the counts are printed (``python -m pytest -q -m slow -s
tests/data/test_real_data.py``)."""
from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from src.data.sources import data_root, describe, load_requests, read_kamel, rejection_reasons
from src.data.sources.kamel import list_relations, read_relation, relation_file

pytestmark = pytest.mark.slow


def shipped(relative: str) -> Path:
    path = data_root() / relative
    if not path.exists():
        pytest.skip(f"{path} absent (set KE_DATA_ROOT to the shared data folder)")
    return path


def words(text: str) -> list[str]:  # target length N in words: no tokenizer needed
    return text.split()


def n_records(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    return len(json.loads(text)) if text.lstrip().startswith("[") else sum(1 for line in text.splitlines() if line.strip())


def test_kamel_every_relation():
    root = shipped("kamel")
    relations = list_relations(root)
    total, loaded, reasons = 0, 0, Counter()
    print(f"\nKAMEL {root}, test split: {len(relations)} relations")
    for relation in relations:
        path = relation_file(root, relation)
        one = read_relation(path, relation)
        kinds = rejection_reasons(one)
        assert len(one.facts) + len(one.rejected) == n_records(path), relation
        total, loaded, reasons = total + n_records(path), loaded + len(one.facts), reasons + kinds
        print(f"  {relation:<6} {len(one.facts):>4} loaded, {len(one.rejected):>3} rejected {dict(kinds) or ''}")
    print(f"KAMEL records {total}: {loaded} facts loaded, {total - loaded} rejected {dict(reasons)}")
    assert loaded == len(read_kamel(root).facts) and loaded > 0.85 * total
    # Every fact of every relation becomes a request or a counted rejection.
    requests = load_requests("kamel", root, encode=words, per_length=None)
    assert len(requests) + len(requests.rejected) == total
    print("KAMEL requests (all relations, N in words):", describe(requests))
    print("  requests per target length:", dict(sorted(Counter(len(words(r.target_new)) for r in requests.requests).items())))


@pytest.mark.parametrize("relative", ["counterfact/counterfact-edit.json", "counterfact/counterfact-train.json",
                                      "counterfact/counterfact-edit-1k.json"])
def test_counterfact(relative):
    path = shipped(relative)
    found = load_requests("counterfact", path)
    assert len(found) + len(found.rejected) == n_records(path)
    print("\n" + describe(found))
    assert len(found) > 0.98 * n_records(path)


def test_zsre():
    path = shipped("zsre/zsre_mend_train-1k.json")
    found = load_requests("zsre", path)
    assert len(found) + len(found.rejected) == n_records(path)
    print("\n" + describe(found))
    assert len(found) > 0.95 * n_records(path)


@pytest.mark.skipif(importlib.util.find_spec("src.data.sources.known") is None, reason="no known_1000 loader")
def test_known_1000():
    from src.data.sources.known import load_known

    path = shipped("rome/known_1000.json")
    facts = load_known(path)
    rejected = getattr(facts, "rejected", [])
    assert len(facts) + len(rejected) == n_records(path)
    print(f"\nknown_1000 {path}: {len(facts)} loaded, {len(rejected)} rejected")
