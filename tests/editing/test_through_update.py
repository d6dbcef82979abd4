"""ROME's ``through_update``: the written edit acts exactly as the edit that was optimised."""
import pytest
import torch

from src.data.requests import EditRequest
from src.editing import ROME
from src.editing.cases import build_case
from src.editing.hooks import patched
from src.models.padding import left_pad
from tests.editing.test_fit import assert_batch_sizes_agree


def logits_while_optimising_and_after_writing(tiny_cache, family: str, through_update: bool):
    rome = ROME(model_path=f"factworld:{family}@tiny", layers=[0], mom2_source=None, max_batch=2,
                through_update=through_update)
    world = tiny_cache.world()
    facts = world.facts[:2]
    cases = [build_case(EditRequest(f"c{i}", world.relation(f.relation).templates[0], f.subject, f.object),
                        rome.tokenizer, [], 8) for i, f in enumerate(facts)]
    with torch.no_grad():  # as EditMethod._begin calls it
        rome._group = rome.start_group(cases)
        rome.delta.normal_()
    rows = [rome.adapter.target_inputs(c.prompt.ids, c.target_ids)[0] for c in cases]
    ids, mask = left_pad(rows, rome.adapter.pad_token_id)
    owner = torch.arange(2)
    at = torch.tensor([ids.shape[1] - len(r) + c.prompt.subject_last for r, c in zip(rows, cases)])
    with torch.no_grad(), rome.editing(2, owner, at):
        optimised = rome.adapter(ids, mask)
    patches = rome.final_patches(cases)
    with torch.no_grad(), patched(patches, owner):
        written = rome.adapter(ids, mask)
    for patch in patches:
        patch.remove()
    return optimised, written


@pytest.mark.parametrize("family", ["llama", "llada"])
def test_through_update_writes_what_it_optimised(tiny_cache, family):
    optimised, written = logits_while_optimising_and_after_writing(tiny_cache, family, True)
    torch.testing.assert_close(written, optimised, rtol=1e-4, atol=1e-4)


def test_subject_shift_is_not_what_rome_writes(tiny_cache):
    # The reason the option exists: the rank-one update also moves other positions.
    optimised, written = logits_while_optimising_and_after_writing(tiny_cache, "llama", False)
    assert (written - optimised).abs().max() > 1e-2


def test_through_update_batch_of_one_equals_batch_of_many(tiny_cache, tmp_path):
    assert_batch_sizes_agree(tmp_path, "llada", 1, 6, "--model.init_args.through_update", "true",
                             "--data.schedule", "study")
