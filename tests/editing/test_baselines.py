"""FT-L and LoRA edits: end to end on the tiny fact world, independence of the edits in a
batch, FT-L's L-infinity bound, and the per-row LoRA factors against peft's LoRA."""
import copy
import json

import pytest
import torch
from peft import inject_adapter_in_model

from src.editing import LoRAEdit
from src.editing.hooks import FullRankPatch, patched
from src.fit import main
from tests.editing.test_fit import assert_batch_sizes_agree, fit_args, records

CONFIGS = {("FTL", "llama"): "llama_ft.yaml", ("FTL", "llada"): "llada_ft.yaml",
           ("LoRAEdit", "llama"): "llama_lora.yaml", ("LoRAEdit", "llada"): "llada_lora.yaml"}


@pytest.mark.parametrize("method, family", sorted(CONFIGS))
def test_baseline_fit_writes_measured_records(tiny_cache, tmp_path, method, family):
    cli = main(fit_args(tmp_path, "run", family, "--data.batch_size", "4", config=CONFIGS[method, family]))
    recs = records(tmp_path / "run")
    assert len(recs) == 6 and all(r["status"] == "ok" and r["method"] == method for r in recs.values())
    assert all(len(r["loss_trace"]) == r["steps"] >= 1 and r["delta_norm"] > 0 for r in recs.values())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["ok"] == 6 and set(summary["per_length"]["efficacy"]) == {"1", "2"}
    if method == "FTL":
        # The last group's changes are still in place: every element within the bound, which binds.
        eps = cli.model.hparams.norm_constraint
        assert cli.model.weight_change.abs().max().item() == pytest.approx(eps)


@pytest.mark.parametrize("method", ["FTL", "LoRAEdit"])
def test_batch_of_one_equals_batch_of_four(tiny_cache, tmp_path, method):
    assert_batch_sizes_agree(tmp_path, "llada", 1, 4, config=CONFIGS[method, "llada"])


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_per_row_lora_factors_equal_peft_lora(tiny_cache, family):
    method = LoRAEdit(model_path=f"factworld:{family}@tiny", layers=[1], rank=2, alpha=6, max_batch=2)
    torch.manual_seed(0)
    with torch.no_grad():
        method.lora_A.normal_()
        method.lora_B.normal_()
    ids = torch.tensor([[5, 9, 12, 7, 3], [8, 4, 6, 10, 11]])
    patches = method.patches(2)
    with torch.no_grad(), patched(patches, torch.tensor([1, -1])):
        ours = method.adapter(ids)
    patches[0].remove()
    reference = copy.deepcopy(method.adapter)
    inject_adapter_in_model(method.lora_config(), reference.network)
    lora_layer = reference.edit_module(1)
    with torch.no_grad():
        lora_layer.lora_A["default"].weight.copy_(method.lora_A[1])
        lora_layer.lora_B["default"].weight.copy_(method.lora_B[1])
        unedited, peft_edited = method.adapter(ids), reference(ids[:1])
    assert not torch.allclose(ours[0], unedited[0], atol=1e-3)  # the edit does something
    torch.testing.assert_close(ours[0], peft_edited[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[1], unedited[1], rtol=1e-5, atol=1e-5)  # row -1 runs unedited


def test_full_rank_patch_rows_use_their_own_change_and_merge_matches():
    torch.manual_seed(2)
    lin = torch.nn.Linear(4, 3, bias=False)
    D = torch.randn(2, 3, 4)
    x = torch.randn(3, 5, 4)
    patch = FullRankPatch(lin, D)
    with patched([patch], torch.tensor([1, -1, 0])):
        out = lin(x)
    base = x @ lin.weight.T
    assert torch.allclose(out, torch.stack([base[0] + x[0] @ D[1].T, base[1], base[2] + x[2] @ D[0].T]), atol=1e-6)
    patch.remove()
    patch.merge(1)
    assert torch.allclose(lin(x[0]), out[0], atol=1e-6)
