"""Tracing ROME's known_1000 layout on a tiny model: the loader, only-correct selection, resume."""
import json

import pytest
import torch

import src.trace as trace_entry
from src.data.sources.known import load_known
from src.factworld.tokens import encode_target
from src.factworld import WorldConfig, generate_world, train_tokenizer
from src.models import LlamaAdapter
from src.trace import TraceConfig, first_token_correct, known_items, main

HF = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
          pad_token_id=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("known")
    world = generate_world(WorldConfig(n_subjects=8, n_relations=1, objects_per_relation=6, name_parts=4))
    tokenizer = train_tokenizer(world.corpus_text(), vocab_size=120)
    torch.manual_seed(0)
    LlamaAdapter.from_config(**HF, vocab_size=len(tokenizer)).save(tmp / "model")
    tokenizer.save_pretrained(str(tmp / "model"))
    relation = world.relations[0]
    records = [{"known_id": i, "subject": f.subject, "attribute": f.object, "template": relation.templates[0],
                "prompt": relation.prompt(f.subject, 0), "relation_id": f.relation}
               for i, f in enumerate(world.facts[:6])]
    (tmp / "known.json").write_text(json.dumps(records))
    return tmp


def test_loader_reads_rome_layout_and_refuses_a_missing_subject(setup, tmp_path):
    facts = load_known(setup / "known.json")
    assert len(facts) == 6 and facts[0].prompt[facts[0].subject_start:].startswith(facts[0].subject)
    bad = json.loads((setup / "known.json").read_text())[:1]
    bad[0]["subject"] = "Nobody"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="known_id 0"):
        load_known(tmp_path / "bad.json")


def test_only_correct_keeps_the_facts_whose_argmax_is_the_object(setup):
    from src.models import load_model, load_tokenizer

    adapter, tokenizer = load_model(setup / "model"), load_tokenizer(setup / "model")
    items = known_items(str(setup / "known.json"), seed=0)
    # Rewrite half the objects into the model's own first answer token, so both outcomes occur.
    with torch.no_grad():
        best = [int(adapter(torch.tensor([tokenizer(it.prompt)["input_ids"]]))[0, -1].argmax()) for it in items]
    items = [it._replace(object=tokenizer.decode([b]).strip()) if j % 2 == 0 else it
             for j, (it, b) in enumerate(zip(items, best))]
    expected = [encode_target(tokenizer, it.object)[0] == b for it, b in zip(items, best)]
    correct = first_token_correct(adapter, tokenizer, items, batch_size=4)
    assert correct == expected and any(correct) and not all(correct)
    cfg = TraceConfig(model_path=str(setup / "model"), facts="known", n_facts=3, only_correct=True)
    chosen = trace_entry.choose_items(cfg, adapter, tokenizer, items)
    assert chosen == [it for it, ok in zip(items, correct) if ok][:3]


def test_known_trace_resumes_from_its_fact_records(setup, tmp_path, monkeypatch):
    cfg = TraceConfig(model_path=str(setup / "model"), facts="known", facts_path=str(setup / "known.json"),
                      n_facts=2, samples=2, window=2, out_dir=str(tmp_path / "out"))
    first = main(cfg)
    assert first["n_facts"] == 2 and first["seconds_per_fact"] > 0
    monkeypatch.setattr(trace_entry, "trace_fact", lambda *a, **k: pytest.fail("traced again"))
    again = main(cfg)
    assert again["effect"] == first["effect"] and again["n_skipped"] == first["n_skipped"]
