"""Named extra decoders: every edit is measured under each, and summary.json tabulates them; the
seeded draws of a sampler that draws, and their mean over ``decode_seeds``."""
import json

import pytest

from src.fit import main
from tests.editing.test_fit import assert_batch_sizes_agree, fit_args, records

DECODERS = {"default": {}, "half_steps": {"steps_ratio": 0.5}, "eos_after": {"extra_length": 1}}


def test_extra_decoders_are_recorded_and_summarised(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "run", "llada", "--data.batch_size", "4",
                  "--model.init_args.decoders", json.dumps(DECODERS)))
    recs = records(tmp_path / "run")
    assert all(set(r["decoders"]) == set(DECODERS) for r in recs.values())
    # The same decoder, the same patches and batch: the same scores as the main measurement.
    for r in recs.values():
        assert r["decoders"]["default"] == {m: r[m] for m in ("efficacy", "generalisation", "specificity")}
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["per_decoder"]) == set(DECODERS)
    assert summary["per_decoder"]["default"] == summary["per_length"]
    assert set(summary["per_decoder"]["half_steps"]["efficacy"]) == {"1", "2"}


# Dream's origin sampler draws its reveal order, and at temperature > 0 its tokens: the tiny
# world's dream is sure enough of its tokens that the order alone changes nothing there.
SAMPLING = ("--model.init_args.decoder", '{"temperature": 1.0}')


def test_dream_decodes_each_edit_the_same_at_any_batch_size(tiny_cache, tmp_path):
    # Each prompt draws from its own seeded generator, so neither the batch nor what ran
    # before changes an edit's decode.
    assert_batch_sizes_agree(tmp_path, "dream", 1, 8, "--data.per_length", "4", *SAMPLING, config="dream_corrected.yaml")
    one, many = records(tmp_path / "small"), records(tmp_path / "large")
    assert all(one[c]["generated"] == many[c]["generated"] for c in one)


def test_decode_seeds_average_the_measures_over_that_many_decodes(tiny_cache, tmp_path):
    extra = ("--data.per_length", "4", "--model.init_args.edit_sites", "true", *SAMPLING)
    for name, seeds in (("all", "[0, 1, 2]"), ("s0", "[0]"), ("s1", "[1]"), ("s2", "[2]")):
        main(fit_args(tmp_path, name, "dream", *extra, "--model.init_args.decode_seeds", seeds,
                      config="dream_naive.yaml"))
    mean, single = records(tmp_path / "all"), [records(tmp_path / f"s{i}") for i in range(3)]
    for cid, r in mean.items():
        for m in ("efficacy", "generalisation", "specificity"):
            assert r[m] == pytest.approx(sum(s[cid][m] for s in single) / 3)
        for site in ("subject_only", "except_subject"):
            assert r["sites"][site] == pytest.approx(sum(s[cid]["sites"][site] for s in single) / 3)
        assert r["sites"]["all"] == r["efficacy"] and r["generated"] == single[0][cid]["generated"]
    # The seeds draw different decodes somewhere (else this test could not tell a mean from a copy).
    assert any(len({s[cid]["generalisation"] for s in single}) > 1 or len({s[cid]["efficacy"] for s in single}) > 1
               for cid in mean)
    with pytest.raises(ValueError, match="decode_seeds is empty"):
        main(fit_args(tmp_path, "none", "dream", "--model.init_args.decode_seeds", "[]", config="dream_naive.yaml"))
