"""Attention direction and padding, the same checks for all four families.

MDMs attend both ways, so a later token changes earlier positions' logits; ARMs must not let it.
Left padding (with attention_mask) must change nothing at the real positions.
"""
import pytest
import torch

from src.models import DreamAdapter, LLaDAAdapter, LlamaAdapter, QwenAdapter

V = 64
HF = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, pad_token_id=0)
BUILDERS = {
    "llama": lambda: LlamaAdapter.from_config(**HF),
    "qwen": lambda: QwenAdapter.from_config(**HF),
    "llada": lambda: LLaDAAdapter.from_config(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=48,
                                              vocab_size=V, embedding_size=V, mask_token_id=V - 1, pad_token_id=0),
    "dream": lambda: DreamAdapter.from_config(**HF, mask_token_id=V - 1),
}


@pytest.fixture(params=sorted(BUILDERS))
def model(request):
    torch.manual_seed(0)
    return BUILDERS[request.param]().eval()


def test_later_tokens_reach_earlier_positions_only_in_mdms(model):
    ids = torch.randint(1, V - 1, (1, 8), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] % (V - 2)) + 1  # another real token at the last position
    with torch.no_grad():
        diff = (model(ids) - model(changed))[0, :-1].abs().amax()
    if model.kind == "mdm":
        assert diff > 1e-4
    else:
        assert diff == 0


def test_left_padding_changes_nothing(model):
    row = torch.randint(1, V - 1, (1, 6), generator=torch.Generator().manual_seed(2))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), row], dim=1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones_like(row)], dim=1)
    other = torch.randint(1, V - 1, (1, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        alone = model(row)
        in_batch = model(torch.cat([padded, other]), torch.cat([mask, torch.ones_like(other)]))
    torch.testing.assert_close(in_batch[0, 3:], alone[0], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(in_batch).all()
