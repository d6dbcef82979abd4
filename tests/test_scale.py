"""The 8B-shaped writer at a tiny width, and one bench.scale edit row on it."""
from __future__ import annotations

import json

import pytest
import torch

from bench.shaped import shaped_config, write_shaped
from src.data.sources import data_root
from src.models import load_model, load_tokenizer

TEXTS = ["the quick brown fox jumps over the lazy dog near the old river bank"] * 40
# Published configs with a tiny width; the vocabulary and the special ids stay the published ones.
TINY = {
    "llada": {"d_model": 64, "n_heads": 4, "n_kv_heads": 4, "mlp_hidden_size": 96},
    "dream": {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2},
    "llama": {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2},
    "qwen": {"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2},
}
MASK = {"llada": 126336, "dream": 151666}


@pytest.mark.parametrize("family", sorted(TINY))
def test_shaped_folder_loads_in_its_family_format(tmp_path, family):
    folder = write_shaped(family, 2, tmp_path / family, overrides=TINY[family], texts=TEXTS)
    config = shaped_config(family, 2, TINY[family])
    model, tokenizer = load_model(folder, dtype=torch.bfloat16), load_tokenizer(folder)
    assert (model.family, model.num_layers, model.vocab_size) == (family, 2, config["vocab_size"])
    assert next(model.parameters()).dtype == torch.bfloat16
    # Every embedding row has a token, and the specials sit at the published ids.
    assert len(tokenizer) == config["vocab_size"]
    assert tokenizer.eos_token_id == config["eos_token_id"]
    if family in MASK:
        assert tokenizer.mask_token_id == model.mask_token_id == MASK[family]
    ids = tokenizer("the quick fox")["input_ids"]
    assert max(ids) < 8192 and tokenizer.decode(ids).strip() == "the quick fox"
    assert model(torch.tensor([ids])).shape == (1, len(ids), config["vocab_size"])
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(model.network.state_dict())


def test_weights_are_seeded_per_tensor(tmp_path):
    a = write_shaped("llada", 1, tmp_path / "a", overrides=TINY["llada"], texts=TEXTS)
    b = write_shaped("llada", 1, tmp_path / "b", overrides=TINY["llada"], texts=TEXTS, seed=1)
    wa, wb = (load_model(f).network.state_dict() for f in (a, b))
    name = "model.transformer.blocks.0.ff_out.weight"
    assert torch.equal(wa[name], load_model(a).network.state_dict()[name])
    assert not torch.equal(wa[name], wb[name])


def test_logits_at_equals_indexed_token_logits(tmp_path):
    from src.models.base import ModelAdapter

    for family in ("dream", "llada"):
        model = load_model(write_shaped(family, 1, tmp_path / family, overrides=TINY[family], texts=TEXTS))
        ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
        rows, positions = torch.tensor([0, 1, 1]), torch.tensor([1, 3, 2])
        expected = model.token_logits(ids)[rows, positions]
        assert torch.allclose(model.logits_at(ids, None, rows, positions), expected, atol=1e-5)
        ModelAdapter.head_at_positions = False
        try:
            assert torch.allclose(model.logits_at(ids, None, rows, positions), expected, atol=1e-5)
        finally:
            ModelAdapter.head_at_positions = True


@pytest.mark.skipif(not (data_root() / "kamel").is_dir(), reason="needs the local KAMEL and wikitext data")
def test_bench_scale_rows(tmp_path, capsys):
    from bench.scale import main

    overrides = {**TINY["llada"], "vocab_size": 16384, "embedding_size": 16384, "mask_token_id": 16000,
                 "pad_token_id": 15999, "eos_token_id": 15999}
    folder = write_shaped("llada", 2, tmp_path / "llada", overrides=overrides)
    table = main(["--family", "llada", "--folder", str(folder), "--batches", "1", "2", "--methods", "ROME",
                  "--steps", "2", "--n-prefixes", "0", "--n-neighbors", "1", "--c-texts", "4", "--c-sample", "8",
                  "--edit-mom2", "null"])
    parts = [r[0] for r in table]
    assert parts == ["load", "C, edit layer", "trace one fact", "edit", "edit"]
    assert "s/edit" in table[-1][2] and float(table[-1][3]) > 0
    assert "ROME: peak RSS grows" in capsys.readouterr().out
