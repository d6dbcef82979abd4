"""Dream: the real checkpoint format loads strictly, matches Qwen2 without its causal mask, round-trips."""
import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

from src.models import DreamAdapter, QwenAdapter, load_model

# A tiny config.json as Dream writes it (Qwen2 keys, GQA, q/k/v biases implied).
CONFIG = {
    "model_type": "Dream", "architectures": ["DreamModel"], "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False, "max_position_embeddings": 128,
    "mask_token_id": 63, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 1, "hidden_act": "silu",
    "rope_scaling": None, "use_sliding_window": False, "torch_dtype": "bfloat16",
}


def dream_tensors(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Tensors under the exact names of Dream's (Qwen2's) safetensors."""
    g = torch.Generator().manual_seed(seed)
    d, h, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kv = cfg["num_key_value_heads"] * d // cfg["num_attention_heads"]
    rnd = lambda *s: torch.randn(*s, generator=g) * 0.2
    t = {"model.embed_tokens.weight": rnd(v, d), "model.norm.weight": 1 + rnd(d)}
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = rnd(v, d)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t.update({p + "input_layernorm.weight": 1 + rnd(d), p + "post_attention_layernorm.weight": 1 + rnd(d),
                  p + "self_attn.q_proj.weight": rnd(d, d), p + "self_attn.q_proj.bias": rnd(d),
                  p + "self_attn.k_proj.weight": rnd(kv, d), p + "self_attn.k_proj.bias": rnd(kv),
                  p + "self_attn.v_proj.weight": rnd(kv, d), p + "self_attn.v_proj.bias": rnd(kv),
                  p + "self_attn.o_proj.weight": rnd(d, d), p + "mlp.gate_proj.weight": rnd(h, d),
                  p + "mlp.up_proj.weight": rnd(h, d), p + "mlp.down_proj.weight": rnd(d, h)})
    return t


def write_checkpoint(path, cfg: dict, tensors: dict):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg))
    save_file(tensors, str(path / "model.safetensors"))
    return path


def qwen_config(cfg: dict) -> Qwen2Config:
    keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "vocab_size", "rms_norm_eps", "rope_theta", "tie_word_embeddings", "pad_token_id", "eos_token_id"]
    return Qwen2Config(**{k: cfg[k] for k in keys})


def bidirectional_logits(hf_model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """transformers logits with the causal mask removed (a prepared 4D mask hiding only padded keys)."""
    bias = torch.zeros(mask.shape[0], 1, mask.shape[1], mask.shape[1])
    bias = bias.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(bias.dtype).min)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        return hf_model(input_ids=ids, attention_mask=bias, position_ids=position_ids, use_cache=False).logits


def batch():
    ids = torch.randint(0, 63, (2, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # a left-padded row
    return ids, mask


@pytest.mark.parametrize("tied", [False, True])
def test_checkpoint_matches_qwen2_without_causal_mask(tmp_path, tied):
    cfg = {**CONFIG, "tie_word_embeddings": tied}
    tensors = dream_tensors(cfg)
    model = load_model(write_checkpoint(tmp_path / "dream", cfg, tensors))
    assert isinstance(model, DreamAdapter)
    qwen = Qwen2ForCausalLM(qwen_config(cfg)).eval()
    qwen.load_state_dict(tensors, strict=not tied)
    ids, mask = batch()
    with torch.no_grad():
        ours = model(ids, mask)
    ref = bidirectional_logits(qwen, ids, mask)
    torch.testing.assert_close(ours[0], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[1, 2:], ref[1, 2:], atol=1e-5, rtol=1e-5)


def test_from_qwen_copies_the_arm(tmp_path):
    qwen = QwenAdapter.from_config(**{k: v for k, v in qwen_config(CONFIG).to_dict().items()
                                      if k not in ("model_type", "transformers_version")}).eval()
    dream = DreamAdapter.from_qwen(qwen, mask_token_id=63)
    assert dream.mask_token_id == 63 and dream.config.rope_theta == 1e6 and dream.pad_token_id == 0
    ids, mask = batch()
    with torch.no_grad():
        ours = dream(ids, mask)
    ref = bidirectional_logits(qwen.network, ids, mask)
    torch.testing.assert_close(ours[0], ref[0], atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # weights are copies: editing Dream leaves the ARM alone
        dream.edit_module(0).weight.zero_()
    assert qwen.edit_module(0).weight.abs().sum() > 0
    dream.save(tmp_path / "d")
    assert load_model(tmp_path / "d").config == dream.config


def test_token_logits_are_shifted():
    model = DreamAdapter.from_config(**CONFIG).eval()
    ids, mask = batch()
    with torch.no_grad():
        raw, aligned = model(ids, mask), model.token_logits(ids, mask)
    torch.testing.assert_close(aligned[:, 1:], raw[:, :-1], atol=0, rtol=0)
    assert torch.all(aligned[:, 0] == 0)


def test_save_load_round_trip_is_exact(tmp_path):
    model = load_model(write_checkpoint(tmp_path / "a", CONFIG, dream_tensors(CONFIG)))
    model.save(tmp_path / "b")
    again = load_model(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "config.json").read_text()) == CONFIG
    assert again.config == model.config
    a, b = model.network.state_dict(), again.network.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_checkpoints_name_file_and_key(tmp_path):
    tensors = dream_tensors(CONFIG)
    del tensors["model.layers.1.self_attn.k_proj.bias"]
    with pytest.raises(ValueError, match=r"model\.safetensors.*missing.*layers\.1\.self_attn\.k_proj\.bias"):
        load_model(write_checkpoint(tmp_path / "missing", CONFIG, tensors))
    tensors = {**dream_tensors(CONFIG), "model.layers.0.self_attn.o_proj.bias": torch.zeros(32)}
    with pytest.raises(ValueError, match=r"model\.safetensors.*unexpected.*layers\.0\.self_attn\.o_proj\.bias"):
        load_model(write_checkpoint(tmp_path / "extra", CONFIG, tensors))
    path = write_checkpoint(tmp_path / "wide", {**CONFIG, "intermediate_size": 40}, dream_tensors(CONFIG))
    with pytest.raises(ValueError, match=r"model\.safetensors.*config does not match the tensors.*"
                                         r"model\.layers\.0\.mlp\.down_proj\.weight: shape \(32, 48\) in the file, "
                                         r"\(32, 40\) implied by the config"):
        load_model(path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps(CONFIG))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json.*not valid JSON"):
        DreamAdapter.load(tmp_path / "empty")
