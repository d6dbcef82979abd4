"""``python -m src.pretrain --config ... --kamel ...``: a world of KAMEL facts, its cache, its model."""
from __future__ import annotations

import json

from src.factworld.kamel import KamelWorldConfig, kamel_dir
from src.factworld.spec import load_spec
from src.factworld.world import World
from src.pretrain import main

NAMES = ["Ann Lee", "Bob Ray", "Cid Moe", "Dan Fox", "Eve Kim", "Fay Orr"]


def test_pretrain_builds_a_kamel_world(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_EDIT_CACHE", str(tmp_path / "cache"))
    for relation, objects in [("P19", ["Paris", "Rome", "New York"]), ("P101", ["physics", "law", "art"])]:
        (tmp_path / relation).mkdir()
        rows = [{"sub_label": s, "obj_label": [{"chosen": objects[i % 3], "rdf": None, "alternative": []}]}
                for i, s in enumerate(NAMES)]
        rows.append({"sub_label": "Two", "obj_label": [{"chosen": "Oslo"}, {"chosen": "Bergen"}]})
        (tmp_path / relation / "test.jsonl").write_text("\n".join(map(json.dumps, rows)))
    (tmp_path / "question-templates.csv").write_text("P101, What is the field of work of [S]?\n")
    argv = ["--config", "tiny.yaml", "--kamel.root", str(tmp_path), "--kamel.relations", "[P19, P101]",
            "--kamel.max_facts_per_relation", "5", "--families", "[llama]"]
    rows = main(argv)
    assert set(rows) == {"llama"} and 0 <= rows["llama"]["recall"] <= 1
    folder = kamel_dir(load_spec("tiny"), KamelWorldConfig(["P19", "P101"], str(tmp_path), "test", 5))
    world = World.from_json(folder / "world.json")
    assert [r.name for r in world.relations] == ["P19", "P101"] and len(world.facts) == 10
    assert world.relation("P19").templates[0] == "{} was born in"
    assert world.relation("P101").templates[0] == "Question: What is the field of work of {}? Answer:"
    assert world.meta["rejected"] == {"multi-answer": 2}
    assert (folder / "llama" / "config.json").is_file() and (folder / "llama" / "tokenizer.json").is_file()
    # Another selection is another world.
    assert kamel_dir(load_spec("tiny"), KamelWorldConfig(["P19"], str(tmp_path))) != folder

