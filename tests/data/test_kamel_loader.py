"""KAMEL at full breadth: both layouts, splits, per-file schemas, every record loaded or counted,
declarative templates or the relation's question."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.data.sources import describe, load_requests, read_kamel, rejection_reasons
from src.data.sources.kamel import (QUESTION_FORMATS, declarative_templates, kamel_templates,
                                    list_relations)
from src.factworld.world import Relation


def split(s: str) -> list[str]:
    return s.split()


def hub(subject: str, *answers: str, rdf: str | None = "x") -> dict:
    return {"index": [0], "sub_label": subject, "obj_uri": ["Q1"] * len(answers),
            "obj_label": [{"alternative": [], "rdf": rdf, "chosen": a} for a in answers]}


def write(root: Path, relation: str, split_name: str, lines: list) -> Path:
    path = root / relation / f"{split_name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


OBJECTS = ["Paris", "Rome", "New York", "Old Delhi"]


def test_relations_with_clashing_schemas_load_together(tmp_path):
    # rdf null in every record of one relation, a string in the other: one reader over both
    # files would fail on the schema; each file is read on its own.
    write(tmp_path, "P19", "test", [hub(f"A{i}", o) for i, o in enumerate(OBJECTS)])
    write(tmp_path, "P20", "test", [hub(f"B{i}", o, rdf=None) for i, o in enumerate(OBJECTS)])
    read = read_kamel(tmp_path)
    assert [f.relation for f in read.facts] == ["P19"] * 4 + ["P20"] * 4 and not read.rejected
    rs = load_requests("kamel", tmp_path, encode=split)
    assert len(rs) == 8 and {r.relation for r in rs.requests} == {"P19", "P20"}


def test_every_record_loaded_or_counted_with_its_reason(tmp_path):
    lines = [hub("Ann", "Paris"), hub("Bob", "Rome", "Oslo"), {"sub_label": "Cid", "obj_label": []},
             {"sub_label": "Dan", "obj_label": [{"rdf": "Y"}]}, '{"sub_label": "torn', hub("Ann", "Rome"),
             ["not", "an", "object"], {"obj_label": ["Rome"]}, {"sub_label": "Eve", "obj_label": [{"chosen": " "}]},
             hub("Fay", "Rome")]
    path = write(tmp_path, "P19", "test", lines)
    read = read_kamel(tmp_path, ["P19"])
    assert [f.subject for f in read.facts] == ["Ann", "Fay"]
    assert len(read.facts) + len(read.rejected) == len(lines)
    assert rejection_reasons(read) == {
        "multi-answer": 1, "empty obj_label": 1, "obj_label entry without a chosen label": 1, "invalid JSON": 1,
        "repeated subject": 1, "not a JSON object": 1, "no sub_label": 1, "empty answer in obj_label": 1}
    # Each message names the file and the line.
    messages = dict(read.rejected)
    assert messages["P19/test.jsonl:2"].startswith(f"{path}, record 2") and "multi-answer (2 answers)" in messages[
        "P19/test.jsonl:2"]
    assert "first at line 1" in messages["P19/test.jsonl:6"]


def test_github_layout_and_split(tmp_path):
    # GitHub's KAMEL: train/dev/test files per relation, obj_label a list of answer strings.
    for name, subjects in [("train", "ABCD"), ("dev", "EF"), ("test", "GH")]:
        write(tmp_path, "P19", name, [{"sub_label": s, "obj_label": [OBJECTS[i % 4]]} for i, s in enumerate(subjects)]
              + [{"sub_label": "Multi", "obj_label": ["Paris", "Rome"]}])
    for name, n in [("train", 4), ("dev", 2), ("test", 2)]:
        read = read_kamel(tmp_path, ["P19"], split=name)
        assert len(read.facts) == n and rejection_reasons(read) == {"multi-answer": 1}
    rs = load_requests("kamel", tmp_path, encode=split, split="train")
    assert sorted(r.subject for r in rs.requests) == ["A", "B", "C", "D"]
    assert all(m.startswith(f"{tmp_path / 'P19' / 'train.jsonl'}") for _, m in rs.rejected)
    with pytest.raises(ValueError, match="splits are"):
        read_kamel(tmp_path, ["P19"], split="validation")


def test_missing_file_is_named(tmp_path):
    write(tmp_path, "P19", "train", [hub("Ann", "Paris")])
    with pytest.raises(FileNotFoundError, match=r"P19/test.jsonl \(the folder has \['train.jsonl'\]\)"):
        read_kamel(tmp_path, ["P19"])
    with pytest.raises(FileNotFoundError, match="no <relation>/dev.jsonl"):
        list_relations(tmp_path, "dev")


def test_declarative_templates_else_the_relations_question(tmp_path):
    (tmp_path / "question-templates.csv").write_text(
        "P19, Where was [S] born?\nP9999, What is the answer, for [S]?\nP9999, A later duplicate of [S]?\n")
    templates = kamel_templates(tmp_path, ["P19", "P9999"])
    assert templates["P19"] == declarative_templates()["P19"]
    question = "What is the answer, for {}?"
    assert templates["P9999"] == [form.format(question) for form in QUESTION_FORMATS]
    with pytest.raises(ValueError, match=r"\['P8888'\]: no template"):
        kamel_templates(tmp_path, ["P8888"])
    # A relation with only a question gives question-answer requests.
    write(tmp_path, "P9999", "test", [hub(f"S{i}", o) for i, o in enumerate(OBJECTS)])
    rs = load_requests("kamel", tmp_path, encode=split, relations=["P9999"])
    assert len(rs) == 4 and rs.requests[0].prompt == "Question: What is the answer, for {}? Answer:"
    assert rs.requests[0].paraphrase_prompts == [f"Q: What is the answer, for {rs.requests[0].subject}? A:"]
    assert describe(rs).endswith(": 4 loaded, 0 rejected")


def test_templates_file_is_well_formed():
    for relation, templates in declarative_templates().items():
        assert len(templates) >= 2, relation
        Relation(relation, templates, [])  # one "{}" each, no surrounding space


def test_real_kamel_every_relation_has_prompts():
    from src.data.sources import data_root

    root = data_root() / "kamel"
    if not root.is_dir():
        pytest.skip(f"no KAMEL copy at {root} (set KE_DATA_ROOT)")
    relations = list_relations(root)
    templates = kamel_templates(root, relations)
    assert len(relations) == 214 and set(templates) == set(relations)
    # The CSV's question for P36 asks for a language; the declarative templates fix it.
    assert templates["P36"][0] == "The capital of {} is"
