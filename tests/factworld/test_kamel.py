"""Worlds of real facts from a KAMEL folder."""
import json
from pathlib import Path

import pytest

from src.factworld import KAMEL_RELATIONS, data_root, kamel_world

TEMPLATES = ["{} was born in", "The birthplace of {} is", "{} is a native of", "The hometown of {} is"]


def record(subject: str, *answers: str) -> str:
    return json.dumps({"index": [0], "sub_label": subject, "obj_uri": ["Q1"] * len(answers),
                       "obj_label": [{"alternative": [], "rdf": a, "chosen": a} for a in answers]})


def write(root: Path, relation: str, lines: list[str]) -> Path:
    path = root / relation / "test.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fake_folder(tmp_path):
    write(tmp_path, "P19", [record("Ada Lovelace", "London"), record("Two Answers", "A", "B"),
                            record("Jean Prévost", "Saint-Marcellin en Forez")])
    write(tmp_path, "P27", [record("Ada Lovelace", "United Kingdom")])
    world = kamel_world(tmp_path, {"P19": TEMPLATES, "P27": [t.replace("born in", "from") for t in TEMPLATES]})
    assert world.subjects == ["Ada Lovelace", "Jean Prévost"]
    assert [(f.subject, f.object) for f in world.facts_of("P19")] == [
        ("Ada Lovelace", "London"), ("Jean Prévost", "Saint-Marcellin en Forez")]
    assert world.sentences()[1] == ("The birthplace of Ada Lovelace is", "London")
    assert len(kamel_world(tmp_path, {"P19": TEMPLATES}, max_facts_per_relation=1).facts) == 1


@pytest.mark.parametrize("bad,reason", [('{"sub_label": "X", "obj_label": [', "invalid JSON"),
                                        (json.dumps({"obj_label": []}), "no sub_label"),
                                        (json.dumps({"sub_label": "X", "obj_label": [{"rdf": "Y"}]}),
                                         "obj_label entry without a chosen label")])
def test_malformed_record_is_counted_with_its_reason(tmp_path, bad, reason):
    write(tmp_path, "P19", [record("Ada Lovelace", "London"), "", bad])
    world = kamel_world(tmp_path, {"P19": TEMPLATES})
    assert [f.subject for f in world.facts] == ["Ada Lovelace"]
    assert world.meta["rejected"] == {reason: 1}


def test_missing_relation_folder_is_named(tmp_path):
    write(tmp_path, "P19", [record("Ada Lovelace", "London")])
    with pytest.raises(FileNotFoundError, match="'P20'"):
        kamel_world(tmp_path, {"P19": TEMPLATES, "P20": TEMPLATES})


def test_real_kamel_folder():
    root = data_root() / "kamel"
    if not root.is_dir():
        pytest.skip(f"no KAMEL copy at {root} (set KE_DATA_ROOT to the folder holding kamel/)")
    world = kamel_world(root, max_facts_per_relation=50)
    assert [r.name for r in world.relations] == list(KAMEL_RELATIONS)
    for relation in world.relations:
        assert len(world.facts_of(relation.name)) == 50
    lengths = {len(f.object.split()) for f in world.facts}
    assert {1, 2, 3, 4} <= lengths, "default relations should give objects of 1 to 4+ words"
