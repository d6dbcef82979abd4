"""The fact world's four models: trained once into the cache, in their own formats, recalling facts.

Uses the session's ``tiny_cache`` (tests/conftest.py): the tiny config's four models, trained
in seconds into a temporary MDM_EDIT_CACHE.
"""
import json
from pathlib import Path

import pytest
import torch

from src.factworld import build
from src.factworld.build import ensure_models, initial_model, resolve_model_path, spec_dir
from src.factworld.recall import measure_recall
from src.factworld.spec import FactWorldSpec, load_spec
from src.factworld.tokens import encode_prompt, encode_target
from src.models import (DreamAdapter, LLaDAAdapter, LlamaAdapter, QwenAdapter, load_model,
                        load_tokenizer)
from src.pretrain import main

FAMILIES = {"llama": (LlamaAdapter, "llama"), "qwen": (QwenAdapter, "qwen2"),
            "llada": (LLaDAAdapter, "llada"), "dream": (DreamAdapter, "Dream")}


def no_training(*args, **kwargs):
    raise AssertionError("a cached model was trained again")


def test_spec_hash_is_stable_and_covers_every_field():
    assert FactWorldSpec().spec_hash() == FactWorldSpec().spec_hash()
    assert FactWorldSpec(lr=1e-3).spec_hash() != FactWorldSpec().spec_hash()
    assert load_spec("tiny").spec_hash() != FactWorldSpec().spec_hash()
    assert FactWorldSpec(arm_loss="sequence").spec_hash() != FactWorldSpec().spec_hash()


def test_a_field_added_later_keeps_existing_cache_folders_at_its_default():
    # The default world's folder name before arm_loss existed.
    assert FactWorldSpec().spec_hash() == "a13635e5d4d7"


def test_sentence_loss_supervises_every_token_after_the_first(tiny_cache, monkeypatch):
    import random

    from src.factworld.data import collate_right
    from src.factworld.objectives import ARMObjective

    tokenizer = tiny_cache.tokenizer()
    samples = [[(encode_prompt(tokenizer, p), encode_target(tokenizer, o))] for p, o in tiny_cache.world().sentences()[:4]]
    batch = collate_right(samples, tokenizer.pad_token_id, tokenizer.eos_token_id, 0.0, random.Random(0))
    adapter = load_model(tiny_cache.model_paths["llama"])
    seen = {}
    original = torch.nn.functional.cross_entropy

    def counting(logits, targets, **kw):
        seen["tokens"] = targets.numel()
        return original(logits, targets, **kw)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", counting)
    ARMObjective(adapter, loss_on="object").loss(batch)
    on_object = seen["tokens"]
    ARMObjective(adapter, loss_on="sequence").loss(batch)
    assert on_object == int(batch["span"].sum())
    assert seen["tokens"] == int(batch["attention_mask"].sum()) - len(samples)


def test_cache_layout(tiny_cache):
    root = tiny_cache.root
    assert root == spec_dir(load_spec("tiny"))
    assert {"spec.json", "world.json", "tokenizer", "timings.json", *FAMILIES} <= {p.name for p in root.iterdir()}
    assert not list(root.glob(".tmp-*"))
    assert set(json.loads((root / "timings.json").read_text())) == set(FAMILIES)
    assert json.loads((root / "spec.json").read_text())["hidden_size"] == load_spec("tiny").hidden_size


def test_second_call_reuses_the_cache(tiny_cache, monkeypatch):
    mtimes = {f: (p / "config.json").stat().st_mtime_ns for f, p in tiny_cache.model_paths.items()}
    monkeypatch.setattr(build, "train_model", no_training)
    again = ensure_models(load_spec("tiny"))
    assert again.model_paths == tiny_cache.model_paths
    assert {f: (p / "config.json").stat().st_mtime_ns for f, p in again.model_paths.items()} == mtimes
    assert resolve_model_path("factworld:llada@tiny") == tiny_cache.model_paths["llada"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_folder_loads_in_its_own_format(tiny_cache, family):
    path = tiny_cache.model_paths[family]
    adapter_class, model_type = FAMILIES[family]
    assert json.loads((path / "config.json").read_text())["model_type"] == model_type
    adapter = load_model(path)
    assert type(adapter) is adapter_class
    tokenizer = load_tokenizer(path)
    assert tokenizer.get_vocab() == tiny_cache.tokenizer().get_vocab()
    # Same ids, not just the same vocabulary: a model-type tokenizer class would re-split text.
    for prompt, obj in tiny_cache.world().sentences()[:20]:
        assert encode_prompt(tokenizer, prompt) == encode_prompt(tiny_cache.tokenizer(), prompt)
        assert encode_target(tokenizer, obj) == encode_target(tiny_cache.tokenizer(), obj)
    assert adapter.vocab_size == len(tokenizer)
    if adapter.kind == "mdm":
        assert adapter.mask_token_id == tokenizer.mask_token_id


def test_tokens_of_prompt_and_object_concatenate(tiny_cache):
    tokenizer = tiny_cache.tokenizer()
    for prompt, obj in tiny_cache.world().sentences()[:20]:
        whole = tokenizer(prompt + " " + obj, add_special_tokens=False)["input_ids"]
        assert encode_prompt(tokenizer, prompt) + encode_target(tokenizer, obj) == whole


@pytest.mark.parametrize("family", FAMILIES)
def test_recall_on_the_tiny_world(tiny_cache, family):
    world = tiny_cache.world()
    result = measure_recall(load_model(tiny_cache.model_paths[family]), tiny_cache.tokenizer(), world)
    assert result["n"] == len(world.sentences()) == sum(result["n_by_length"].values())
    assert 0.0 <= result["recall"] <= 1.0
    assert min(result["by_length"]) == 1 and max(result["by_length"]) > 1  # multi-token objects too
    # Chance is about 1/6 per token; a few seconds of training get well past it.
    assert result["recall"] >= 0.6, result


def test_dream_starts_as_a_copy_of_qwen(tiny_cache):
    spec, tokenizer = load_spec("tiny"), tiny_cache.tokenizer()
    dream = initial_model("dream", spec, tiny_cache, tokenizer)
    qwen = load_model(tiny_cache.model_paths["qwen"]).network.state_dict()
    state = dream.network.state_dict()
    assert isinstance(dream, DreamAdapter) and dream.mask_token_id == tokenizer.mask_token_id
    assert state.keys() == qwen.keys()
    assert all(torch.equal(state[k], qwen[k]) for k in state)


def test_interrupted_training_leaves_nothing_that_looks_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_EDIT_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "train_model", no_training)
    spec = load_spec("tiny")
    with pytest.raises(AssertionError, match="trained again"):
        ensure_models(spec, ["llama"])
    root = spec_dir(spec)
    assert (root / "world.json").is_file() and not (root / "llama").exists()
    assert not list(root.glob(".tmp-*"))


def test_unknown_paths_and_families_are_named(tiny_cache):
    with pytest.raises(FileNotFoundError, match="no/such/folder"):
        resolve_model_path("no/such/folder")
    with pytest.raises(ValueError, match="gpt"):
        ensure_models(load_spec("tiny"), ["gpt"])


def test_recall_only_cli_prints_the_table(tiny_cache, capsys):
    rows = main(["--config", "tiny", "--recall-only", "--families", "[llama, dream]"])
    out = capsys.readouterr().out
    assert list(rows) == ["llama", "dream"] and "recall" in out and "dream" in out
    saved = json.loads((tiny_cache.root / "recall.json").read_text())
    assert saved["llama"]["recall"] == rows["llama"]["recall"]


def test_a_spec_trains_the_same_weights_whatever_came_before(tmp_path, monkeypatch):
    # Two builds of one family from different random states (as two fresh processes, or one
    # that trained other families first, would start): bit-identical weights.
    from safetensors.torch import load_file

    weights = []
    for run, seed in enumerate((1, 2)):
        monkeypatch.setenv("MDM_EDIT_CACHE", str(tmp_path / str(run)))
        torch.manual_seed(seed)
        folder = ensure_models(load_spec("tiny"), ["llada"]).model_paths["llada"]
        weights.append(load_file(str(folder / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_cached_families_load_while_another_build_holds_the_lock(tiny_cache):
    import fcntl
    import threading

    from src.factworld.build import ensure_models

    spec = load_spec("tiny")
    found = []
    with open(spec_dir(spec).with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Blocks until the lock is released if it takes the lock (flock: per open file).
        reader = threading.Thread(target=lambda: found.append(ensure_models(spec, ["llama"])), daemon=True)
        reader.start()
        reader.join(timeout=60)
        loaded_while_locked = bool(found)
    reader.join()
    assert loaded_while_locked and found[0].model_paths["llama"] == tiny_cache.model_paths["llama"]


def test_dream_epochs_grad_clip_mdm_masking_and_optimizer_options_reach_training(tiny_cache, monkeypatch,
                                                                                   tmp_path):
    from dataclasses import replace

    spec = replace(load_spec("tiny"), dream_epochs=3, grad_clip=1.0, mdm_tie_copies=True, mdm_weighting="mean",
                   mdm_full_mask_prob=0.5, optimizer="muon", muon_lr=0.03)
    assert spec.spec_hash() != load_spec("tiny").spec_hash()
    assert replace(spec, dream_epochs=None, grad_clip=None, mdm_tie_copies=False, mdm_weighting="elbo",
                   mdm_full_mask_prob=0.0, optimizer="adamw", muon_lr=0.02).spec_hash() == load_spec("tiny").spec_hash()
    monkeypatch.setenv("MDM_EDIT_CACHE", str(tmp_path))
    assets = build.ensure_world(spec)
    # qwen comes from the tiny cache, so only llada and dream train here.
    (assets.root / "qwen").symlink_to(tiny_cache.model_paths["qwen"])
    assets.model_paths["qwen"] = assets.root / "qwen"
    epochs, clips, ties, options, optims = {}, set(), {}, {}, {}

    def record(adapter, samples, tokenizer, n_epochs, lr, batch_size, eos_prob, seed, log_dir, name, loss_on,
               grad_clip, tie_copies, mdm_options, optim_options):
        epochs[name] = n_epochs
        clips.add(grad_clip)
        ties[name] = tie_copies
        options[name] = mdm_options
        optims[name] = optim_options
        return 0.0

    monkeypatch.setattr(build, "train_model", record)
    build.train_families(spec, assets, {"llada", "dream"})
    assert epochs == {"llada": spec.mdm_epochs, "dream": 3} and clips == {1.0}
    assert ties == {"llada": True, "dream": True}
    assert options["llada"] == options["dream"] == {"weighting": "mean", "full_mask_prob": 0.5}
    assert optims["llada"] == optims["dream"] == {"optimizer": "muon", "muon_lr": 0.03}


def test_parallel_training_builds_the_models_serial_training_builds(tiny_cache, monkeypatch, tmp_path):
    # llama and qwen train side by side in two processes, then dream from that qwen.
    monkeypatch.setenv("MDM_EDIT_CACHE", str(tmp_path))
    assets = build.ensure_models(load_spec("tiny"), ["llama", "dream"], jobs=2)
    assert set(assets.model_paths) == {"llama", "qwen", "dream"}
    for family in ("llama", "dream"):
        parallel = load_model(assets.model_paths[family]).state_dict()
        serial = load_model(tiny_cache.model_paths[family]).state_dict()
        assert parallel.keys() == serial.keys()
        for name in serial:
            torch.testing.assert_close(parallel[name], serial[name], rtol=1e-3, atol=1e-4, msg=f"{family} {name}")


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[2] / "configs" / "pretrain").glob("*.yaml")))
def test_every_pretraining_config_parses_as_src_pretrain_reads_it(name):
    from src.config_path import resolve_config
    from src.factworld.spec import spec_from
    from src.pretrain import build_parser

    parser = build_parser()
    cfg = parser.parse_args(["--config", str(resolve_config(name, "pretrain"))])
    assert spec_from(parser, cfg).spec_hash()


def test_the_default_world_is_the_adamw_world_trained_with_muon_in_fewer_epochs():
    from dataclasses import asdict

    adamw, default = asdict(load_spec("factworld_adamw.yaml")), asdict(load_spec("factworld.yaml"))
    changed = {k: (adamw[k], default[k]) for k in adamw if adamw[k] != default[k]}
    assert changed == {"optimizer": ("adamw", "muon"), "arm_epochs": (20, 15), "mdm_epochs": (45, 20)}
