"""LLaDA: the real checkpoint format loads strictly, matches LLaMA without its causal mask, round-trips."""
import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

from src.models import LLaDAAdapter, load_model

# A tiny config.json as LLaDA writes it (extra reference keys included, GQA, embedding_size > vocab_size).
CONFIG = {
    "model_type": "llada", "architectures": ["LLaDAModelLM"], "d_model": 32, "n_layers": 2, "n_heads": 4,
    "n_kv_heads": 2, "mlp_hidden_size": 48, "mlp_ratio": 4, "vocab_size": 60, "embedding_size": 64,
    "mask_token_id": 59, "pad_token_id": 0, "eos_token_id": 1, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
    "weight_tying": False, "include_bias": False, "block_type": "llama", "activation_type": "silu",
    "layer_norm_type": "rms", "rope": True, "alibi": False, "max_sequence_length": 4096,
}


def llada_tensors(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Tensors under the exact names of LLaDA's model.safetensors."""
    g = torch.Generator().manual_seed(seed)
    d, h, rows = cfg["d_model"], cfg["mlp_hidden_size"], cfg["embedding_size"]
    kv = cfg["n_kv_heads"] * d // cfg["n_heads"]
    rnd = lambda *s: torch.randn(*s, generator=g) * 0.2
    t = {"model.transformer.wte.weight": rnd(rows, d), "model.transformer.ln_f.weight": 1 + rnd(d)}
    if not cfg["weight_tying"]:
        t["model.transformer.ff_out.weight"] = rnd(rows, d)
    for i in range(cfg["n_layers"]):
        p = f"model.transformer.blocks.{i}."
        t.update({p + "attn_norm.weight": 1 + rnd(d), p + "ff_norm.weight": 1 + rnd(d),
                  p + "q_proj.weight": rnd(d, d), p + "k_proj.weight": rnd(kv, d), p + "v_proj.weight": rnd(kv, d),
                  p + "attn_out.weight": rnd(d, d), p + "ff_proj.weight": rnd(h, d),
                  p + "up_proj.weight": rnd(h, d), p + "ff_out.weight": rnd(d, h)})
    return t


def write_checkpoint(path, cfg: dict, tensors: dict):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg))
    save_file(tensors, str(path / "model.safetensors"))
    return path


def to_llama(cfg: dict, tensors: dict) -> LlamaForCausalLM:
    """The same weights in transformers' LlamaForCausalLM (names mapped)."""
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=cfg["embedding_size"], hidden_size=cfg["d_model"], intermediate_size=cfg["mlp_hidden_size"],
        num_hidden_layers=cfg["n_layers"], num_attention_heads=cfg["n_heads"],
        num_key_value_heads=cfg["n_kv_heads"], rms_norm_eps=cfg["rms_norm_eps"], rope_theta=cfg["rope_theta"],
        tie_word_embeddings=cfg["weight_tying"]))
    names = {"attn_norm": "input_layernorm", "ff_norm": "post_attention_layernorm", "q_proj": "self_attn.q_proj",
             "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj", "attn_out": "self_attn.o_proj",
             "ff_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj", "ff_out": "mlp.down_proj"}
    state = {}
    for k, v in tensors.items():
        k = k.removeprefix("model.transformer.")
        if k.startswith("blocks."):
            _, i, mod, w = k.split(".")
            state[f"model.layers.{i}.{names[mod]}.{w}"] = v
        else:
            state[{"wte.weight": "model.embed_tokens.weight", "ln_f.weight": "model.norm.weight",
                   "ff_out.weight": "lm_head.weight"}[k]] = v
    llama.load_state_dict(state, strict=not cfg["weight_tying"])
    return llama.eval()


def bidirectional_logits(hf_model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """transformers logits with the causal mask removed: a prepared 4D mask is used as given
    (create_causal_mask returns it untouched), here one that only hides padded keys."""
    bias = torch.zeros(mask.shape[0], 1, mask.shape[1], mask.shape[1])
    bias = bias.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(bias.dtype).min)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return hf_model(input_ids=ids, attention_mask=bias, position_ids=position_ids, use_cache=False).logits


@pytest.mark.parametrize("tying", [False, True])
def test_checkpoint_matches_llama_without_causal_mask(tmp_path, tying):
    cfg = {**CONFIG, "weight_tying": tying}
    tensors = llada_tensors(cfg)
    model = load_model(write_checkpoint(tmp_path / "llada", cfg, tensors))
    assert isinstance(model, LLaDAAdapter) and model.vocab_size == 64
    ids = torch.randint(0, 60, (2, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded row
    with torch.no_grad():
        ours = model(ids, mask)
    ref = bidirectional_logits(to_llama(cfg, tensors), ids, mask)
    assert ours.shape == (2, 7, 64)
    torch.testing.assert_close(ours[0], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[1, 3:], ref[1, 3:], atol=1e-5, rtol=1e-5)


def test_sharded_checkpoint_loads(tmp_path):
    tensors = llada_tensors(CONFIG)
    path = tmp_path / "sharded"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(CONFIG))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(path / file))
    weight_map = {k: file for file, keys in shards.items() for k in keys}
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    state = load_model(path).network.state_dict()
    assert all(torch.equal(state[k], v) for k, v in tensors.items())


def test_save_load_round_trip_is_exact(tmp_path):
    model = load_model(write_checkpoint(tmp_path / "a", CONFIG, llada_tensors(CONFIG)))
    model.save(tmp_path / "b")
    again = load_model(tmp_path / "b")
    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    assert saved == CONFIG  # unknown reference keys survive the round trip
    assert again.config == model.config
    a, b = model.network.state_dict(), again.network.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # A random model saved in the same format loads back identically, including bf16.
    fresh = LLaDAAdapter.from_config(**{**CONFIG, "weight_tying": True})
    fresh.save(tmp_path / "c")
    loaded = LLaDAAdapter.load(tmp_path / "c", dtype=torch.bfloat16)
    assert "model.transformer.ff_out.weight" not in loaded.network.state_dict()
    assert all(torch.equal(v.bfloat16(), loaded.network.state_dict()[k]) for k, v in fresh.network.state_dict().items())


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    tensors = llada_tensors(CONFIG)
    del tensors["model.transformer.blocks.1.up_proj.weight"]
    with pytest.raises(ValueError, match=r"model\.safetensors.*missing.*blocks\.1\.up_proj\.weight"):
        load_model(write_checkpoint(tmp_path / "missing", CONFIG, tensors))
    tensors = {**llada_tensors(CONFIG), "model.transformer.blocks.0.q_proj.bias": torch.zeros(32)}
    with pytest.raises(ValueError, match=r"model\.safetensors.*unexpected.*blocks\.0\.q_proj\.bias"):
        load_model(write_checkpoint(tmp_path / "extra", CONFIG, tensors))


def test_config_mismatch_names_key_and_shapes(tmp_path):
    path = write_checkpoint(tmp_path / "bad", {**CONFIG, "d_model": 48}, llada_tensors(CONFIG))
    with pytest.raises(ValueError) as err:
        load_model(path)
    msg = str(err.value)
    assert "model.safetensors" in msg and "config does not match the tensors" in msg
    assert "model.transformer.wte.weight: shape (64, 32) in the file, (64, 48) implied by the config" in msg


def test_unknown_model_type_and_missing_config(tmp_path):
    path = write_checkpoint(tmp_path / "odd", {**CONFIG, "model_type": "lladaX"}, llada_tensors(CONFIG))
    with pytest.raises(ValueError, match=r"config\.json.*unknown model_type 'lladaX'"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        LLaDAAdapter.load(tmp_path / "nowhere")
    path = write_checkpoint(tmp_path / "scaled", {**CONFIG, "scale_logits": True}, llada_tensors(CONFIG))
    with pytest.raises(ValueError, match=r"config\.json.*scale_logits"):
        load_model(path)


def test_edit_sites_are_the_checkpoint_modules():
    model = LLaDAAdapter.from_config(**CONFIG)
    assert model.edit_module(1) is model.network.model.transformer.blocks[1].ff_out
    assert model.module(model.attn_module_template, 0) is model.network.model.transformer.blocks[0].attn_out
    assert model.edit_module(0).weight.shape == (32, 48)
