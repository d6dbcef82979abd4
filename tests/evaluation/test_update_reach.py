"""``src.evaluation.update_reach``: c_p is what ROME's written update adds at each position."""
from __future__ import annotations

import json

import pytest
import torch

from src.editing.hooks import LowRankPatch
from src.editing.rank_one import rank_one_factors
from src.evaluation.update_reach import attention_to_subject, edit_site_inputs, main, position_groups, reach
from src.reporting.study import ReachRun, load
from tests.evaluation.test_metrics import BUILDERS


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_reach_is_the_written_updates_share_at_each_position(family):
    torch.manual_seed(0)
    adapter = BUILDERS[family]().eval()
    module = adapter.edit_module(0)
    ids, subject_last = [5, 6, 7, 8, 9, 10], 2
    keys = torch.randn(4 * module.in_features, module.in_features, dtype=torch.float64)
    C = keys.T @ keys / len(keys)
    shares = reach(edit_site_inputs(adapter, [0], ids)[0], subject_last, C)
    seen = []
    handle = module.register_forward_hook(lambda m, i, o: seen.append((i[0][0].detach(), o[0].detach())))
    with torch.no_grad():
        adapter(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    handle.remove()
    key_in, before = seen[0]
    r = torch.randn(module.out_features)
    U, V = rank_one_factors(key_in[subject_last][None], r[None], C)
    patch = LowRankPatch(module, U, V)
    try:
        with patch.rows(torch.tensor([0])):
            after = module(key_in[None])[0]
    finally:
        patch.remove()
    # The update adds c_p r at position p, and exactly r at the subject's last token.
    want = torch.tensor(shares, dtype=torch.float32)[:, None] * r
    torch.testing.assert_close(after - before, want, rtol=1e-3, atol=1e-4)
    assert shares[subject_last] == pytest.approx(1.0)


def test_attention_to_subject_reads_the_query_rows_of_a_causal_model():
    torch.manual_seed(0)
    adapter = BUILDERS["llama"]().eval()
    before = adapter.network.config._attn_implementation
    ids, last = [5, 6, 7, 8, 9, 10], 4
    # Softmax over the keys a causal query sees: all of them sum to 1, the later ones to 0.
    assert attention_to_subject(adapter, [0, 1], ids, range(0, last + 1), last) == pytest.approx({0: 1.0, 1: 1.0})
    assert attention_to_subject(adapter, [0], ids, range(last + 1, len(ids)), last) == {0: 0.0}
    part = attention_to_subject(adapter, [0], ids, range(1, 3), last)[0]
    assert 0.0 < part < 1.0
    assert adapter.network.config._attn_implementation == before  # the fused kernel is back


def test_position_groups_place_each_prompt_token():
    # "The birthplace of Vel Mora is" + 2 target positions: subject tokens 3-4.
    assert position_groups(6, 3, 4, 2) == ["before_subject", "before_subject", "before_subject", "subject",
                                           "subject_last", "last", "object", "object"]
    assert position_groups(5, 0, 1, 1) == ["subject", "subject_last", "after_subject", "after_subject", "last", "object"]


def test_cli_on_the_tiny_world(tiny_cache, tmp_path, capsys):
    result = main(["--model", "factworld:llama@tiny", "--layers", "0", "1", "--limit", "8", "--out_dir", str(tmp_path)])
    assert json.loads((tmp_path / "reach.json").read_text()) == result
    assert isinstance(load(tmp_path), ReachRun)  # the report reads the folder
    assert set(result["layers"]) == {"0", "1"}
    assert result["layers"]["0"]["subject_last"]["mean"] == pytest.approx(1.0)
    relations = result["by_relation"]["0"]
    assert all(0.0 < r["last"]["attention_to_subject"] < 1.0 for r in relations.values())  # an ARM: recorded
    assert len(relations) >= 1 and sum(r["last"]["n"] for r in relations.values()) == result["layers"]["0"]["last"]["n"]
    out = capsys.readouterr().out
    assert "subject_last" in out and "by relation" in out
    with pytest.raises(ValueError, match="--layers"):
        main(["--model", "factworld:llama@tiny", "--layers", "7", "--out_dir", str(tmp_path)])


def test_cli_reads_c_from_masked_states_for_an_mdm_only(tiny_cache, tmp_path):
    clean = main(["--model", "factworld:llada@tiny", "--layers", "0", "--limit", "8", "--out_dir", str(tmp_path / "c")])
    masked = main(["--model", "factworld:llada@tiny", "--layers", "0", "--limit", "8", "--mom2_states", "masked",
                   "--out_dir", str(tmp_path / "m")])
    assert masked["layers"]["0"]["subject_last"]["mean"] == pytest.approx(1.0)
    assert masked["layers"]["0"]["object"]["mean"] != pytest.approx(clean["layers"]["0"]["object"]["mean"])
    with pytest.raises(ValueError, match="autoregressive"):
        main(["--model", "factworld:llama@tiny", "--layers", "0", "--limit", "4", "--mom2_states", "masked",
              "--out_dir", str(tmp_path / "a")])
