"""``src.evaluation.reveal_context``: batched NLLs against one-row computations, and the CLI."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from src.evaluation.reveal_context import main, object_nll
from tests.evaluation.test_metrics import BUILDERS


def one_row_nll(adapter, prompt, obj, j, revealed):
    ids, _ = adapter.target_inputs(prompt, obj, revealed)
    logits = adapter.token_logits(torch.tensor([ids]))[0, len(prompt) + j]
    return -float(F.log_softmax(logits.float(), -1)[obj[j]])


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_batched_nll_equals_one_row_at_a_time(family):
    torch.manual_seed(0)
    adapter = BUILDERS[family]().eval()
    rows = [([5, 6, 7, 8, 9], [10, 11, 12]), ([13, 14], [15, 16, 17])]  # padded in one batch
    got = object_nll(adapter, rows, batch_size=4)  # and split over batches
    for j in range(3):
        others = [i != j for i in range(3)]
        want_masked = sum(one_row_nll(adapter, p, o, j, None) for p, o in rows) / 2
        want_revealed = sum(one_row_nll(adapter, p, o, j, others) for p, o in rows) / 2
        assert got["masked"][j] == pytest.approx(want_masked, rel=1e-4)
        assert got["others_revealed"][j] == pytest.approx(want_revealed, rel=1e-4)


def test_cli_on_the_tiny_world(tiny_cache, tmp_path, capsys):
    result = main(["--model", "factworld:llada@tiny", "--length", "2", "--limit", "5", "--out_dir", str(tmp_path)])
    assert json.loads((tmp_path / "reveal.json").read_text()) == result
    assert result["new_object"]["n"] >= 1 and len(result["new_object"]["masked"]) == 2
    assert "new object, others revealed" in capsys.readouterr().out


def test_autoregressive_model_is_refused_by_name(tiny_cache):
    with pytest.raises(ValueError, match="factworld:llama@tiny.*autoregressive"):
        main(["--model", "factworld:llama@tiny"])
