"""Edit requests: the shared validation and span finder, each source layout, and the real files."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from src.data.requests import EditRequest, InvalidRequest, find_subject_span, subject_template, validate
from src.data.sources import (KamelFact, data_root, length_controlled_requests, load_requests,
                              read_kamel_facts)


def split(s: str) -> list[str]:  # whitespace tokenizer: N = number of words
    return s.split()


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


FLAT = [
    {"case_id": 0, "prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
     "target_new": "English", "ground_truth": "French", "rephrase_prompt": "Danielle Darrieux spoke",
     "locality_prompt": "Michel Rocard is a native speaker of", "locality_ground_truth": "French"},
    {"case_id": 1, "prompt": "The capital of  paris  region is", "subject": "Paris Region",
     "target_new": " Rome", "ground_truth": "Paris", "rephrase_prompt": "x",
     "locality_prompt": "y", "locality_ground_truth": "z"},
    {"case_id": 2, "prompt": "Apple Inc. was founded in", "subject": "Microsoft",
     "target_new": "Oslo", "ground_truth": "Cupertino", "rephrase_prompt": "x",
     "locality_prompt": "y", "locality_ground_truth": "z"},
    {"case_id": 3, "prompt": "Tokyo is in", "subject": "Tokyo", "target_new": "  ",
     "ground_truth": "Japan", "rephrase_prompt": "x", "locality_prompt": "y", "locality_ground_truth": "z"},
]
NESTED = [{
    "case_id": 7, "pararel_idx": 2796,
    "requested_rewrite": {"prompt": "The mother tongue of {} is", "relation_id": "P103",
                          "target_new": {"str": "English", "id": "Q1860"},
                          "target_true": {"str": "French", "id": "Q150"}, "subject": "Danielle Darrieux"},
    "paraphrase_prompts": ["Danielle Darrieux, a native", "Danielle Darrieux spoke the language"],
    "neighborhood_prompts": ["The mother tongue of Léon Blum is", "Michel Rocard is a native speaker of"],
    "attribute_prompts": ["J. R. R. Tolkien is a native speaker of"],
    "generation_prompts": ["Danielle Darrieux's mother tongue is"],
}]
ZSRE = [
    {"subject": "UniFirst", "src": "What is the product made by UniFirst?", "pred": "uniform",
     "rephrase": "What will be the product of UniFirst?", "alt": "unmanned aircraft", "answers": ["uniform"],
     "loc": "nq question: who voiced gaston", "loc_ans": "Richard White", "cond": "-"},
    {"subject": "WEFS", "src": "When was WEFS established?", "pred": "1998", "rephrase": "When?",
     "alt": "1987", "answers": ["1987"], "loc": "nq question: q", "loc_ans": "a", "cond": "-"},
]


# ------------------------------------------------------------- shared pieces
@pytest.mark.parametrize("text,subject,span", [
    ("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", (21, 38)),
    ("the mother tongue of danielle darrieux is", "Danielle Darrieux", (21, 38)),
    ("The mother tongue of Danielle \t Darrieux is", "Danielle Darrieux", (21, 40)),
    ("Is  DANIELLE\nDarrieux French?", " Danielle Darrieux ", (4, 21)),
    ("Pineapple is a fruit", "apple", None),
    ("Apple's founder", "Apple", (0, 5)),
    ("Nothing here", "Danielle", None),
    ("Anything", "  ", None),
])
def test_find_subject_span(text, subject, span):
    assert find_subject_span(text, subject) == span


def test_subject_template_keeps_prompt_spelling_and_rejects_with_reason():
    assert subject_template("Where is paris located?", "Paris") == ("Where is {} located?", "paris")
    with pytest.raises(InvalidRequest, match="'Oslo' not found in prompt"):
        subject_template("Where is Paris?", "Oslo")


@pytest.mark.parametrize("kw,reason", [
    ({"prompt": "{} is {}"}, "exactly one"),
    ({"prompt": "Paris is in"}, "exactly one"),
    ({"subject": " "}, "subject is empty"),
    ({"target_new": "  "}, "target_new is empty"),
    ({"target_new": "France"}, "nothing to edit"),
    ({"neighborhood_prompts": ["Lyon is in"]}, "1 neighborhood prompts but 0 targets"),
])
def test_validate_rejects(kw, reason):
    req = EditRequest(**{"case_id": "c9", "prompt": "{} is in", "subject": "Paris",
                         "target_new": "Italy", "target_true": "France", **kw})
    with pytest.raises(InvalidRequest, match=reason) as err:
        validate(req)
    assert "case c9" in str(err.value)


def test_request_roundtrip_and_text():
    req = EditRequest(3, "The capital of {} is ", "France", " Paris", neighborhood_prompts=["a"],
                      neighborhood_targets=["b"])
    assert (req.case_id, req.prompt, req.target_new) == ("3", "The capital of {} is", "Paris")
    assert req.text() == "The capital of France is"
    assert EditRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req


# ------------------------------------------------------------- layouts
def test_counterfact_flat(tmp_path):
    path = write(tmp_path / "cf.json", FLAT)
    rs = load_requests("counterfact", path)
    assert [r.case_id for r in rs.requests] == ["0", "1"]
    first, second = rs.requests
    assert first.text() == FLAT[0]["prompt"] and first.target_true == "French"
    assert first.neighborhood_prompts == ["Michel Rocard is a native speaker of"]
    assert first.neighborhood_targets == ["French"]
    assert (second.prompt, second.subject, second.target_new) == ("The capital of  {} is", "paris  region", "Rome")
    reasons = dict(rs.rejected)
    assert set(reasons) == {"2", "3"}
    assert str(path) in reasons["2"] and "record 2" in reasons["2"] and "'Microsoft' not found" in reasons["2"]
    assert "target_new is empty" in reasons["3"]


def test_counterfact_nested(tmp_path):
    rs = load_requests("counterfact", write(tmp_path / "counterfact.json", NESTED))
    (req,) = rs.requests
    assert not rs.rejected
    assert (req.case_id, req.prompt, req.subject, req.relation) == ("7", "The mother tongue of {} is",
                                                                    "Danielle Darrieux", "P103")
    assert (req.target_new, req.target_true) == ("English", "French")
    assert req.paraphrase_prompts == NESTED[0]["paraphrase_prompts"]
    assert req.neighborhood_targets == ["French", "French"]


def test_zsre(tmp_path):
    rs = load_requests("zsre", write(tmp_path / "zsre.json", ZSRE))
    (req,) = rs.requests
    assert (req.prompt, req.subject, req.target_new, req.target_true) == (
        "What is the product made by {}?", "UniFirst", "unmanned aircraft", "uniform")
    assert req.paraphrase_prompts == ["What will be the product of UniFirst?"]
    assert (req.neighborhood_prompts, req.neighborhood_targets) == (["who voiced gaston"], ["Richard White"])
    assert [c for c, _ in rs.rejected] == ["1"] and "nothing to edit" in rs.rejected[0][1]


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_requests("zsre", tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"subject": "A", ')
    with pytest.raises(ValueError, match="bad.json"):
        load_requests("counterfact", bad)
    with pytest.raises(ValueError, match="unknown request source"):
        load_requests("nope")


def test_default_path_follows_env(tmp_path, monkeypatch):
    write(tmp_path / "zsre" / "zsre_mend_train-1k.json", ZSRE)
    monkeypatch.setenv("KE_DATA_ROOT", str(tmp_path))
    assert data_root() == tmp_path and len(load_requests("zsre")) == 1


# ------------------------------------------------------------- length-controlled (KAMEL / fact world)
TEMPLATES = {"P103": ["The native language of {} is", "{} is a native speaker of"],
             "P36": ["The capital of {} is", "{}'s capital city is"]}
FACTS = [KamelFact(s, "P103", o) for s, o in [
    ("Ann", "French"), ("Bob", "German"), ("Cid", "Old Norse"), ("Dan", "Middle English"),
    ("Eve", "Modern Standard Arabic"), ("Fay", "French")]] + [KamelFact("Gaul", "P36", "Rome")]


def test_same_length_new_object():
    rs = length_controlled_requests(FACTS, TEMPLATES, split, n_neighbors=2, seed=1)
    by_case = {r.subject: r for r in rs.requests}
    for req in rs.requests:
        assert len(split(req.target_new)) == len(split(req.target_true)) and req.target_new != req.target_true
        assert req.text() == TEMPLATES[req.relation][0].replace("{}", req.subject)
        assert req.paraphrase_prompts == [TEMPLATES[req.relation][1].replace("{}", req.subject)]
        assert req.subject not in " ".join(req.neighborhood_prompts)
        assert req.target_new not in req.neighborhood_targets
    assert by_case["Ann"].target_new == "German" and by_case["Fay"].target_new == "German"
    assert by_case["Cid"].target_new == "Middle English" and by_case["Dan"].target_new == "Old Norse"
    assert len(by_case["Ann"].neighborhood_prompts) == 2
    # Eve's 3-token object and Gaul's lone capital have no same-length alternative.
    assert sorted(reason.split(": ")[-1] for _, reason in rs.rejected) == [
        "no other object of P103 with 3 tokens", "no other object of P36 with 1 tokens"]
    again = length_controlled_requests(list(reversed(FACTS)), TEMPLATES, split, n_neighbors=2, seed=1)
    assert {r.subject: r.target_new for r in again.requests} == {s: r.target_new for s, r in by_case.items()}


def test_length_filter_cap_and_template_check():
    rs = length_controlled_requests(FACTS, TEMPLATES, split, target_lengths=[2], per_length=1)
    assert len(rs) == 1 and len(split(rs.requests[0].target_true)) == 2 and not rs.rejected
    with pytest.raises(ValueError, match="P36"):
        length_controlled_requests(FACTS, {"P36": ["The capital of {} is"]}, split)


def test_kamel_folder(tmp_path):
    rows = [{"sub_label": s, "obj_label": [{"chosen": o, "rdf": o, "alternative": []}]}
            for s, o in [("Ann", "French"), ("Bob", "German"), ("Cid", "Old Norse"), ("Dan", "Middle English")]]
    rows.append({"sub_label": "Two", "obj_label": [{"chosen": "French", "rdf": "", "alternative": []},
                                                   {"chosen": "Dutch", "rdf": "", "alternative": []}]})
    (tmp_path / "P103").mkdir()
    (tmp_path / "P103" / "test.jsonl").write_text("\n".join(map(json.dumps, rows)))
    assert [f.subject for f in read_kamel_facts(tmp_path, ["P103"])] == ["Ann", "Bob", "Cid", "Dan"]
    rs = load_requests("kamel", tmp_path, templates={"P103": TEMPLATES["P103"]}, encode=split)
    # The multi-answer record is counted, not lost.
    assert len(rs) == 4 and [m.split("): ")[-1] for _, m in rs.rejected] == ["multi-answer (2 answers)"]
    with pytest.raises(FileNotFoundError, match="P36"):
        load_requests("kamel", tmp_path, templates=TEMPLATES, encode=split)


# ------------------------------------------------------------- real files
def real(rel: str) -> Path:
    path = data_root() / rel
    if not path.exists():
        pytest.skip(f"{path} absent (set KE_DATA_ROOT to the shared data folder)")
    return path


def report(rs) -> float:
    kinds = Counter(reason.split(": ", 1)[1].split(" (")[0][:40] for _, reason in rs.rejected)
    print(rs.summary(), dict(kinds))
    return len(rs.rejected) / (len(rs) + len(rs.rejected))


def test_real_counterfact():
    rs = load_requests("counterfact", real("counterfact/counterfact-edit-1k.json"))
    assert report(rs) < 0.01 and len(rs) >= 990
    for req in rs.requests:
        assert req.prompt.count("{}") == 1 and req.neighborhood_prompts and req.paraphrase_prompts


def test_real_zsre():
    rs = load_requests("zsre", real("zsre/zsre_mend_train-1k.json"))
    assert report(rs) < 0.05 and len(rs) >= 950


REAL_TEMPLATES = {
    "P103": ["The native language of {} is", "{} is a native speaker of"],
    "P17": ["{} is located in the country of", "{} is in the country"],
    "P19": ["{} was born in", "The birthplace of {} is"],
    "P36": ["The capital of {} is", "{}'s capital city is"],
    "P106": ["{} works as a", "The profession of {} is"],
}


def test_real_kamel():
    rs = load_requests("kamel", real("kamel"), templates=REAL_TEMPLATES, encode=split,
                       target_lengths=[1, 2, 3, 4], per_length=100)
    lengths = Counter(len(split(r.target_new)) for r in rs.requests)
    report(rs)
    print("requests per target length:", dict(sorted(lengths.items())))
    assert all(lengths[n] >= 20 for n in (1, 2, 3)) and all(n <= 4 for n in lengths)
    assert all(len(r.neighborhood_prompts) == 5 for r in rs.requests)


def test_factworld_edit_template_picks_the_edit_prompt(tiny_cache):
    from src.data.sources.factworld import factworld_requests

    world, encode = tiny_cache.world(), (lambda text: [len(w) for w in text.split()])
    templates = {r.name: r.templates for r in world.relations}
    first = factworld_requests(tiny_cache.world_path, encode, per_length=None, n_neighbors=0).requests
    second = factworld_requests(tiny_cache.world_path, encode, edit_template=1, per_length=None,
                                n_neighbors=0).requests
    assert [r.case_id for r in first] == [r.case_id for r in second]  # the same facts, other prompts
    for a, b in zip(first, second):
        ts = templates[a.relation]
        assert a.prompt == ts[0] and b.prompt == ts[1]
        filled = [t.replace("{}", b.subject) for t in (ts[0], *ts[2:])]
        assert b.paraphrase_prompts and b.paraphrase_prompts == filled[:len(b.paraphrase_prompts)]
    with pytest.raises(ValueError, match="edit_template=9: .* choose 0..") as err:
        factworld_requests(tiny_cache.world_path, encode, edit_template=9)
    assert "templates" in str(err.value)
