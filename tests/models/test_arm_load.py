"""ARM checkpoints: a folder missing a tensor fails at load, naming the folder and the key."""
import pytest
from safetensors.torch import load_file, save_file

from src.models import LlamaAdapter, QwenAdapter, load_model


@pytest.mark.parametrize("adapter", [LlamaAdapter, QwenAdapter])
def test_missing_tensor_is_named(tmp_path, adapter):
    adapter.from_config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=False).save(tmp_path)
    assert load_model(tmp_path).family == adapter.family
    weights = load_file(tmp_path / "model.safetensors")
    weights.pop("model.layers.0.mlp.down_proj.weight")
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"missing keys.*model\.layers\.0\.mlp\.down_proj\.weight"):
        load_model(tmp_path)
