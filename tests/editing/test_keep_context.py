"""ROME's ``keep_context``: the written update acts at the subject alone on the edit's prompt,
so it does there exactly what the optimised value shift at the subject does. (With context
prefixes k* is the keys' average over them, so no update equals the shift on each prefixed row.)"""
import pytest
import torch

from src.data.requests import EditRequest
from src.editing import ROME
from src.editing.cases import build_case
from src.editing.hooks import patched
from src.models.padding import left_pad


def edited_outputs(tiny_cache, family: str, keep_context: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs of the edit prompts: unedited, with the shift at the subject, with the written update."""
    rome = ROME(model_path=f"factworld:{family}@tiny", layers=[0], mom2_source=None, max_batch=2,
                keep_context=keep_context)
    torch.manual_seed(0)
    d = rome.adapter.edit_module(0).in_features
    A = torch.randn(d, d).double()
    rome._second_moments[0] = A @ A.T / d + 0.1 * torch.eye(d).double()  # a C that is not the identity
    world = tiny_cache.world()
    cases = [build_case(EditRequest(f"c{i}", world.relation(f.relation).templates[0], f.subject, f.object),
                        rome.tokenizer, [], 8) for i, f in enumerate(world.facts[:2])]
    with torch.no_grad():
        rome._group = rome.start_group(cases)
        rome.delta.normal_()
    rows = [rome._state_inputs(c, p)[0] for c in cases for p in c.contexts]
    owner = torch.tensor([e for e, c in enumerate(cases) for _ in c.contexts])
    ids, mask = left_pad(rows, rome.adapter.pad_token_id)
    at = torch.tensor([ids.shape[1] - len(r) + p.subject_last for r, p in zip(rows, [p for c in cases for p in c.contexts])])
    with torch.no_grad():
        unedited = rome.adapter(ids, mask)
        with rome.editing(2, owner, at):
            shifted = rome.adapter(ids, mask)
        patches = rome.final_patches(cases)  # attached from here on
        with patched(patches, owner):
            written = rome.adapter(ids, mask)
    for patch in patches:
        patch.remove()
    real = mask.bool()  # padding's outputs are never read (an MDM's pad rows attend freely)
    return unedited[real], shifted[real], written[real]


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_written_update_is_the_subject_shift(tiny_cache, family):
    unedited, shifted, written = edited_outputs(tiny_cache, family, keep_context=True)
    assert (shifted - unedited).abs().max() > 1e-2  # the shift acts
    torch.testing.assert_close(written, shifted, rtol=1e-3, atol=1e-3)


def test_rome_update_leaks_without_it(tiny_cache):
    # The property above is not automatic: ROME's own update also moves the other positions.
    _, shifted, written = edited_outputs(tiny_cache, "llama", keep_context=False)
    assert (written - shifted).abs().max() > 1e-2


def test_refused_with_through_update():
    with pytest.raises(ValueError, match="keep_context=true is not supported with through_update=true"):
        ROME(model_path="unused", layers=[0], keep_context=True, through_update=True)
