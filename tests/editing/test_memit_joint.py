"""MEMIT's joint mode: the batched closed form, its shared patch and a fit on the tiny fact world."""
import json

import pytest
import torch

from src.editing.memit import JointPatch
from src.editing.rank_one import joint_factors, rank_one_factors
from src.fit import main


def test_joint_update_of_one_edit_is_the_rank_one_update():
    torch.manual_seed(0)
    k, r = torch.randn(1, 8).double(), torch.randn(1, 5).double()
    A = torch.randn(8, 8).double()
    C = A @ A.T / 8 + torch.eye(8).double()
    U1, V1 = rank_one_factors(k, r, C, lam=3.0)
    U, V = joint_factors(k, r, C, lam=3.0)
    assert torch.allclose((U @ V.T).double(), (U1[0] @ V1[0].T).double(), atol=1e-6)


def test_joint_update_inserts_every_edit_with_small_lambda():
    torch.manual_seed(1)
    W = torch.randn(6, 16).double()
    keys, residuals = torch.randn(4, 16).double(), torch.randn(4, 6).double()
    U, V = joint_factors(keys, residuals, None, lam=1e-6)
    W_new = W + (U @ V.T).double()
    for k, r in zip(keys, residuals):
        assert torch.allclose(W_new @ k, W @ k + r, atol=1e-4)


def test_joint_patch_is_shared_by_rows_and_merges_once():
    torch.manual_seed(2)
    lin = torch.nn.Linear(4, 3, bias=False)
    U, V = torch.randn(3, 2), torch.randn(4, 2)
    patch = JointPatch(lin, U, V)
    assert patch.U.data_ptr() == U.data_ptr()
    x = torch.randn(3, 5, 4)
    expected = x @ (lin.weight + U @ V.T).T
    with torch.no_grad(), patch.rows(torch.tensor([1, -1, 0])):
        out = lin(x)
    assert torch.allclose(out[0], expected[0], atol=1e-5) and torch.allclose(out[2], expected[2], atol=1e-5)
    assert torch.allclose(out[1], x[1] @ lin.weight.T, atol=1e-6)
    for e in range(2):
        patch.merge(e)
    patch.remove()
    with torch.no_grad():
        assert torch.allclose(lin(x), expected, atol=1e-5)


def memit_args(tmp, name: str, *extra: str) -> list[str]:
    return ["--config", "llama_memit_joint.yaml", "--model.init_args.model_path", "factworld:llama@tiny",
            "--trainer.logger.init_args.save_dir", str(tmp), "--trainer.logger.init_args.name", name,
            "--trainer.enable_progress_bar", "false",
            "--data.target_lengths", "[1, 2]", "--data.per_length", "3", "--data.steps", "4",
            "--data.n_neighbors", "2", "--data.batch_size", "6", *extra]


def test_joint_fit_writes_every_edit(tiny_cache, tmp_path):
    main(memit_args(tmp_path, "joint"))
    recs = [json.loads(line) for line in (tmp_path / "joint" / "edits.jsonl").read_text().splitlines()]
    assert len(recs) == 6 and all(r["status"] == "ok" for r in recs), [r["reason"] for r in recs]
    assert all(r["layers"] == [0] for r in recs)


def test_joint_without_lambda_is_a_config_error(tiny_cache, tmp_path):
    with pytest.raises(ValueError, match="mom2_lambda"):
        main(memit_args(tmp_path, "bad", "--model.init_args.mom2_lambda", "0"))
