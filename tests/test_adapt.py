"""src.adapt: Dream's recipe applied to an ARM, end to end on the tiny fact world's llama (seconds)."""
import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.adapt import AdaptConfig, main, parse_args
from src.models import DreamAdapter, LlamaAdapter, load_model, load_tokenizer
from src.models import adapt
from src.models.adapt import TextBlocks, collate_blocks, dream_from_arm, mask_token

HF = dict(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, pad_token_id=0, tie_word_embeddings=True)


def test_llama_maps_onto_dreams_format_with_zero_biases():
    torch.manual_seed(0)
    llama = LlamaAdapter.from_config(**HF).eval()
    dream = DreamAdapter.from_arm(llama, mask_token_id=39).eval()
    state = dream.network.state_dict()
    for name, tensor in llama.network.state_dict().items():
        if name != "lm_head.weight":  # tied: Dream's format holds the embedding once
            assert torch.equal(state[name], tensor), name
    assert all(state[f"model.layers.{i}.self_attn.{p}.bias"].abs().max() == 0
               for i in range(2) for p in ("q_proj", "k_proj", "v_proj"))
    # One token: attention reads only itself, so causal and bidirectional networks agree.
    ids = torch.tensor([[5]])
    assert torch.allclose(dream(ids), llama(ids), atol=1e-5)
    # Longer inputs differ: Dream's first position now sees the later tokens.
    ids = torch.tensor([[5, 9, 17]])
    assert not torch.allclose(dream(ids)[0, 0], llama(ids)[0, 0], atol=1e-4)


def test_a_tokenizer_without_mask_gets_one_new_row(tiny_cache, monkeypatch):
    monkeypatch.setattr(adapt, "MASK_TOKEN", "<|new mask|>")  # the fact world's tokenizer has <|mask|>
    tokenizer = load_tokenizer(tiny_cache.model_paths["llama"])
    tokenizer.mask_token = None
    arm = load_model(tiny_cache.model_paths["llama"])
    rows, before = arm.network.config.vocab_size, arm.network.get_input_embeddings().weight.clone()
    mask = mask_token(arm, tokenizer)
    assert tokenizer.convert_ids_to_tokens(mask) == "<|new mask|>" and mask == len(tokenizer) - 1 == rows
    after = arm.network.get_input_embeddings().weight
    assert after.shape[0] == rows + 1 and torch.equal(after[:rows], before)
    assert dream_from_arm(arm, tokenizer).mask_token_id == mask


def test_blocks_are_whole_and_position_zero_is_never_supervised(tiny_cache):
    tokenizer = load_tokenizer(tiny_cache.model_paths["llama"])
    data = TextBlocks(["Tavo Rell works as a", "Mira Tass lives in"] * 5, tokenizer, length=6)
    batch = collate_blocks([data[0], data[1]])
    assert batch["input_ids"].shape == (2, 6) and not batch["span"][:, 0].any() and batch["span"][:, 1:].all()
    with pytest.raises(ValueError, match="no block"):
        TextBlocks(["a"], tokenizer, length=1000)


def test_adapt_end_to_end_resumes_and_writes_dream(tiny_cache, tmp_path):
    texts = tmp_path / "texts.txt"
    world = tiny_cache.world()
    texts.write_text("".join(f"{p} {o}\n" for p, o in world.sentences()[:200]))
    cfg = dict(model_path="factworld:llama@tiny", texts=[str(texts)], self_texts=4, self_prompts=str(texts),
               self_tokens=4, seq_len=16, batch_size=4, warmup_steps=1, lr=1e-3, checkpoint_every=2,
               log_every=1, accelerator="cpu", out_dir=str(tmp_path / "out"))
    main(AdaptConfig(**cfg, max_steps=2))
    out = tmp_path / "out"
    first = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    folder = main(AdaptConfig(**cfg, max_steps=4))  # resumes from last.ckpt: two more steps
    assert first == 2 and torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    assert json.loads((folder / "config.json").read_text())["model_type"] == "Dream"
    dream = load_model(folder)
    assert dream.family == "dream" and dream.mask_token_id == load_tokenizer(folder).mask_token_id
    assert len((out / "self_texts.txt").read_text().splitlines()) == 4
    events = EventAccumulator(str(out / "logs")).Reload()
    assert len(events.Scalars("pretrain/loss")) >= 3


def test_shipped_config_parses():
    cfg = parse_args(["--config", "smoldream.yaml"])
    assert cfg.model_path == "smollm2" and cfg.texts == ["wikitext"] and cfg.self_texts > 0
