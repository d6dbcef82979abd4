import random

import pytest

from src.data.schedules import forward_process, revealed_masks


def test_none_keeps_everything_masked():
    assert revealed_masks("none", 4, 3, random.Random(0)) == [[False] * 4]


@pytest.mark.parametrize("step", range(8))
def test_study_reveals_step_mod_n(step):
    (mask,) = revealed_masks("study", 4, step, random.Random(step))
    assert sum(mask) == step % 4


def test_study_positions_are_resampled():
    seen = {tuple(revealed_masks("study", 4, 2, random.Random(s))[0]) for s in range(20)}
    assert len(seen) > 1


def test_sampler_follows_the_given_order():
    (mask,) = revealed_masks("sampler", 4, 2, random.Random(0), order=[3, 1, 0, 2])
    assert mask == [False, True, False, True]
    with pytest.raises(ValueError, match="order"):
        revealed_masks("sampler", 4, 2, random.Random(0))


def test_uniform_never_reveals_all_and_length_one_is_plain():
    for s in range(30):
        (mask,) = revealed_masks("uniform", 3, s, random.Random(s))
        assert sum(mask) < 3
    assert revealed_masks("study", 1, 5, random.Random(0)) == [[False]]


def test_unknown_schedule_named():
    with pytest.raises(ValueError, match="bogus"):
        revealed_masks("bogus", 2, 0, random.Random(0))


def test_forward_process_masks_a_random_share_of_each_text():
    texts = [list(range(10, 210))] * 40
    masked = forward_process(texts, 0, random.Random(0))
    assert [len(t) for t in masked] == [200] * 40
    assert all(m in (0, i) for text, out in zip(texts, masked) for i, m in zip(text, out))
    shares = [out.count(0) / 200 for out in masked]
    # One t ~ U(0, 1) per text: the shares spread over (0, 1) instead of all sitting near 0.5.
    assert min(shares) < 0.2 and max(shares) > 0.8
    assert forward_process(texts, 0, random.Random(0)) == masked  # seeded
