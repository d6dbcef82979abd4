"""The closed-form updates and the patch that applies them per row."""
import torch

from src.editing.hooks import LowRankPatch, ValueShift, patched
from src.editing.rank_one import rank_one_factors


def test_rome_update_maps_key_to_target_exactly():
    torch.manual_seed(0)
    W = torch.randn(6, 10)
    keys, targets = torch.randn(3, 10), torch.randn(3, 6)
    A = torch.randn(10, 10)
    C = A @ A.T / 10 + torch.eye(10)
    U, V = rank_one_factors(keys, targets - keys @ W.T, C, lam=0.0)
    for e in range(3):
        W_new = W + U[e] @ V[e].T
        assert torch.allclose(W_new @ keys[e], targets[e], atol=1e-4)


def test_memit_single_key_equals_sherman_morrison_form():
    torch.manual_seed(1)
    k, r = torch.randn(1, 8).double(), torch.randn(1, 5).double()
    A = torch.randn(8, 8).double()
    C = A @ A.T / 8 + torch.eye(8).double()
    lam = 3.0
    U, V = rank_one_factors(k, r, C, lam=lam)
    # MEMIT's R K^T (lam C + K K^T)^-1 with one key.
    direct = r.T @ k @ torch.linalg.inv(lam * C + k.T @ k)
    assert torch.allclose((U[0] @ V[0].T).double(), direct, atol=1e-5)


def test_patch_rows_use_their_own_edit_and_merge_matches():
    torch.manual_seed(2)
    lin = torch.nn.Linear(4, 3, bias=False)
    U, V = torch.randn(2, 3, 1), torch.randn(2, 4, 1)
    x = torch.randn(3, 5, 4)
    patch = LowRankPatch(lin, U, V)
    with patched([patch], torch.tensor([1, -1, 0])):
        out = lin(x)
    base = x @ lin.weight.T
    assert torch.allclose(out[0], x[0] @ (lin.weight + U[1] @ V[1].T).T, atol=1e-5)
    assert torch.allclose(out[1], base[1], atol=1e-6)
    assert torch.allclose(out[2], x[2] @ (lin.weight + U[0] @ V[0].T).T, atol=1e-5)
    expected = x[0] @ (lin.weight + U[1] @ V[1].T).T
    patch.merge(1)
    patch.remove()
    assert torch.allclose(lin(x[0]), expected, atol=1e-5)


def test_unbound_patch_refuses_to_run():
    lin = torch.nn.Linear(4, 3)
    LowRankPatch(lin, torch.zeros(1, 3, 1), torch.zeros(1, 4, 1))
    try:
        lin(torch.randn(1, 2, 4))
    except RuntimeError as err:
        assert "rows bound" in str(err)
    else:
        raise AssertionError("an unbound patch ran")


def test_value_shift_adds_at_one_position_per_row():
    lin = torch.nn.Linear(2, 2)
    delta = torch.tensor([[1.0, 2.0], [10.0, 20.0]])
    x = torch.zeros(2, 3, 2)
    base = lin(x)
    shift = ValueShift(lin, delta, torch.tensor([1, 0]), torch.tensor([2, 0]))
    out = lin(x)
    shift.remove()
    diff = out - base
    assert torch.allclose(diff[0, 2], delta[1]) and torch.allclose(diff[1, 0], delta[0])
    assert diff.abs().sum() == delta.sum()
