"""Where an edit acts: position masks on the per-row patches, and the ``edit_sites`` records."""
import json

import pytest

import torch

from src.editing.hooks import LowRankPatch, patched
from src.fit import main
from tests.editing.test_fit import fit_args, records


def test_position_mask_limits_the_update_to_its_tokens():
    module = torch.nn.Linear(3, 2, bias=False)
    x = torch.randn(1, 4, 3)
    plain = module(x)
    patch = LowRankPatch(module, torch.ones(1, 2, 1), torch.ones(1, 3, 1))
    keep = torch.tensor([[False, True, False, False]])
    with patched([patch], torch.tensor([0]), keep):
        out = module(x)
    patch.remove()
    assert torch.equal(out[:, ~keep[0]], plain[:, ~keep[0]])
    assert not torch.allclose(out[:, keep[0]], plain[:, keep[0]])


def test_fit_records_edit_sites_and_summarises_them(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "run", "llama", "--model.init_args.edit_sites", "true",
                  "--model.init_args.through_update", "true", config="llama_rome.yaml"))
    recs = records(tmp_path / "run")
    assert all(set(r["sites"]) == {"all", "subject_only", "except_subject"} for r in recs.values())
    # "all" is scored by the same decoder as efficacy.
    assert all(r["sites"]["all"] == r["efficacy"] for r in recs.values())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["per_site"]) == {"all", "subject_only", "except_subject"}
    # Per relation: each measure's and site's mean over that relation's edits.
    by_relation = {}
    for r in recs.values():
        by_relation.setdefault(r["request"]["relation"], []).append(r)
    assert set(summary["per_relation"]) == set(by_relation) and len(by_relation) > 1
    for rel, rows in by_relation.items():
        got = summary["per_relation"][rel]
        assert got["n"] == len(rows)
        assert got["efficacy"] == pytest.approx(sum(r["efficacy"] for r in rows) / len(rows))
        assert got["subject_only"] == pytest.approx(sum(r["sites"]["subject_only"] for r in rows) / len(rows))


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_mdm_site_all_is_efficacy_under_the_multi_step_sampler(tiny_cache, tmp_path, family):
    # The corrected edit decoded in N steps: teacher-forced one-step scores used to differ, and a
    # second decode differed where Dream's sampler draws at random.
    main(fit_args(tmp_path, "run", family, "--model.init_args.edit_sites", "true", config=f"{family}_corrected.yaml"))
    recs = records(tmp_path / "run")
    assert recs and all(r["sites"]["all"] == r["efficacy"] for r in recs.values())
