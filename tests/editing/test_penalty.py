"""The weight decay on the value shift: the fact world's squared form and ROME's published one."""
import pytest
import torch

from src.editing import ROME


@pytest.mark.parametrize("form, power", [("squared", 2), ("rome", 1)])
def test_penalty_form(tiny_cache, form, power):
    rome = ROME(model_path="factworld:llama@tiny", layers=[0], mom2_source=None, max_batch=2,
                weight_decay=0.5, weight_decay_form=form)
    init = torch.full((2, rome.shift_size()), 2.0)
    rome._group = {"init": init}
    with torch.no_grad():
        rome.delta.zero_()
        rome.delta[0, 0], rome.delta[1, :2] = 3.0, 4.0  # norms 3 and sqrt(32)
    norms = torch.tensor([3.0, 32 ** 0.5])
    expected = 0.5 * norms ** power / init.norm(dim=-1) ** 2
    torch.testing.assert_close(rome.penalty(2).detach(), expected)


def test_rome_form_is_weaker_for_large_values(tiny_cache):
    # At ||delta|| >> 1 (real models' value shifts) the squared form's penalty is ||delta|| times ROME's.
    penalties = {}
    for form in ("squared", "rome"):
        rome = ROME(model_path="factworld:llama@tiny", layers=[0], mom2_source=None, max_batch=1,
                    weight_decay_form=form)
        rome._group = {"init": torch.full((1, rome.shift_size()), 1.0)}
        with torch.no_grad():
            rome.delta.fill_(2.0)
        penalties[form] = rome.penalty(1).item()
    assert penalties["squared"] > 10 * penalties["rome"]


def test_unknown_form_is_refused(tiny_cache):
    with pytest.raises(ValueError, match="weight_decay_form"):
        ROME(model_path="factworld:llama@tiny", layers=[0], mom2_source=None, weight_decay_form="ROME")
