"""The generated fact world and its tokenizer (GUIDE section 6)."""
from collections import Counter

import pytest
from transformers import AutoTokenizer

from src.factworld import (World, WorldConfig, generate_world, object_first_token_ambiguity,
                           object_length_histogram, subject_token_identifiability, train_tokenizer)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(WorldConfig())


@pytest.fixture(scope="module")
def tokenizer(world):
    return train_tokenizer(world.corpus_text())


def test_same_seed_same_world_other_seed_other_world(world):
    assert generate_world(WorldConfig()) == world
    other = generate_world(WorldConfig(seed=1))
    assert other.subjects != world.subjects and other.facts != world.facts


def test_templates(world):
    assert len(world.relations) == 6
    for relation in world.relations:
        assert len(relation.templates) >= 4
        assert all(t.count("{}") == 1 for t in relation.templates)
        # The subject opens some prompts and sits in the middle of others.
        assert {t.startswith("{}") for t in relation.templates} == {True, False}


def test_every_subject_has_one_fact_per_relation(world):
    pairs = Counter((f.subject, f.relation) for f in world.facts)
    assert len(pairs) == len(world.subjects) * len(world.relations) == len(world.facts)
    assert set(pairs.values()) == {1}
    assert len(world.sentences()) == len(world.facts) * 4


def test_objects_are_distinct_balanced_and_share_parts(world):
    for relation in world.relations:
        assert len(set(relation.objects)) == len(relation.objects) == 24
        lengths = Counter(len(o.split()) for o in relation.objects)
        assert {1, 2, 3, 4} <= set(lengths) and max(lengths.values()) - min(lengths[n] for n in range(1, 5)) <= 1
        words = Counter(w for o in relation.objects for w in o.split())
        assert max(words.values()) >= 3, "objects should be built from shared parts"
        firsts = Counter(o.split()[0] for o in relation.objects)
        assert any(firsts[o.split()[0]] > 1 for o in relation.objects if " " in o)
        # Objects are reused across subjects, and every object is somebody's.
        assert {f.object for f in world.facts_of(relation.name)} == set(relation.objects)


def test_subject_names_share_parts(world, tokenizer):
    for position in (0, 1):
        parts = Counter(s.split()[position] for s in world.subjects)
        assert min(parts.values()) >= 2
    assert subject_token_identifiability(world, tokenizer) == 0.0


def test_object_token_lengths_vary(world, tokenizer):
    histogram = object_length_histogram(world, tokenizer)
    assert {1, 2, 3, 4} <= set(histogram) and max(histogram) > 4
    assert sum(histogram.values()) == 6 * 24
    assert 0 < object_first_token_ambiguity(world, tokenizer) < 1


def test_encoding_concatenates(world, tokenizer):
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    for prompt, obj in world.sentences():
        assert encode(f"{prompt} {obj}") == encode(prompt) + encode(" " + obj)
        assert encode(obj) == encode(" " + obj)


def test_tokenizer_save_and_reload(world, tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    for name in ("pad_token", "eos_token", "mask_token", "bos_token"):
        assert getattr(loaded, name) == getattr(tokenizer, name) is not None
    assert loaded.mask_token_id == tokenizer.mask_token_id
    assert len(loaded) == len(tokenizer)
    line = world.corpus_text()[0]
    ids = loaded.encode(line, add_special_tokens=False)
    assert ids == tokenizer.encode(line, add_special_tokens=False)
    assert loaded.decode(ids) == line


def test_json_round_trip(world, tmp_path):
    world.to_json(tmp_path / "world.json")
    assert World.from_json(tmp_path / "world.json") == world


def test_config_is_validated():
    with pytest.raises(ValueError, match="templates_per_relation"):
        WorldConfig(templates_per_relation=3)
    with pytest.raises(ValueError, match="n_subjects"):
        WorldConfig(n_subjects=10_000)


def test_three_word_names_share_every_part():
    world = generate_world(WorldConfig(name_words=3, name_parts=8, n_subjects=150))
    assert len(set(world.subjects)) == 150 and all(len(s.split()) == 3 for s in world.subjects)
    for position in range(3):
        assert min(Counter(s.split()[position] for s in world.subjects).values()) >= 2
    with pytest.raises(ValueError, match="name_parts"):
        WorldConfig(name_words=2, name_parts=8, n_subjects=65)
