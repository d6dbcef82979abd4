"""MEMIT's ``through_update``: the per-layer updates written are exactly the ones optimised."""
import pytest
import torch

from src.data.requests import EditRequest
from src.editing import MEMIT
from src.editing.cases import build_case
from src.editing.hooks import patched
from src.fit import main
from src.models.padding import left_pad
from tests.editing.test_fit import assert_batch_sizes_agree, fit_args

LAM = 2.0


def through_memit(tiny_cache, family: str) -> tuple[MEMIT, list]:
    """MEMIT over the tiny world's window [0, 1], a random C per layer, a random delta per edit."""
    memit = MEMIT(model_path=f"factworld:{family}@tiny", layers=[0, 1], mom2_source=None, mom2_lambda=LAM,
                  max_batch=2, through_update=True)
    torch.manual_seed(0)
    for layer in memit.layers:  # a C that is not the identity, so each layer's whitening differs
        d = memit.adapter.edit_module(layer).in_features
        A = torch.randn(d, d).double()
        memit._second_moments[layer] = A @ A.T / d + 0.1 * torch.eye(d).double()
    world = tiny_cache.world()
    cases = [build_case(EditRequest(f"c{i}", world.relation(f.relation).templates[0], f.subject, f.object),
                        memit.tokenizer, [], 8) for i, f in enumerate(world.facts[:2])]
    with torch.no_grad():  # as EditMethod._begin calls it
        memit._group = memit.start_group(cases)
        memit.delta.normal_()
    return memit, cases


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_through_update_writes_what_it_optimised(tiny_cache, family):
    memit, cases = through_memit(tiny_cache, family)
    rows = [memit.adapter.target_inputs(c.prompt.ids, c.target_ids)[0] for c in cases]
    ids, mask = left_pad(rows, memit.adapter.pad_token_id)
    owner = torch.arange(2)
    at = torch.tensor([ids.shape[1] - len(r) + c.prompt.subject_last for r, c in zip(rows, cases)])
    with torch.no_grad():
        unedited = memit.adapter(ids, mask)
        with memit.editing(2, owner, at):
            optimised = memit.adapter(ids, mask)
    patches = memit.final_patches(cases)
    assert len(patches) == 2  # one update per window layer
    with torch.no_grad(), patched(patches, owner):
        written = memit.adapter(ids, mask)
    for patch in patches:
        patch.remove()
    assert (optimised - unedited).abs().max() > 1e-2  # the shift acts
    torch.testing.assert_close(written, optimised, rtol=1e-4, atol=1e-4)


def test_each_layer_writes_memit_update_for_its_share(tiny_cache):
    # Layer l's update is MEMIT's r k*^T (lambda C + k* k*^T)^-1 with r = delta / L and that
    # layer's own C and k* (read in the unedited network).
    memit, cases = through_memit(tiny_cache, "llama")
    keys = {layer: memit.keys(layer, cases).double() for layer in memit.layers}
    patches = memit.final_patches(cases)
    for patch in patches:
        patch.remove()
    for layer, patch in zip(memit.layers, patches):
        assert patch.module is memit.adapter.edit_module(layer)
        C = memit.second_moment(layer)
        for e in range(len(cases)):
            k, r = keys[layer][e][:, None], memit.delta[e].detach().double()[:, None] / len(memit.layers)
            expected = r @ k.T @ torch.linalg.inv(LAM * C + k @ k.T)
            torch.testing.assert_close(patch.weight_delta(e).double(), expected, rtol=1e-4, atol=1e-6)


def test_through_update_batch_of_one_equals_batch_of_many(tiny_cache, tmp_path):
    assert_batch_sizes_agree(tmp_path, "llada", 1, 6, "--model.init_args.layers", "[0, 1]",
                             "--model.init_args.through_update", "true", config="llada_memit_corrected.yaml")


def test_through_update_with_joint_is_a_config_error(tiny_cache, tmp_path):
    with pytest.raises(ValueError, match="through_update"):
        main(fit_args(tmp_path, "bad", "llama", "--model.init_args.layers", "[0, 1]",
                      "--model.init_args.joint", "true", "--model.init_args.through_update", "true",
                      config="llama_memit.yaml"))
