"""Named extra decoders: every edit is measured under each, and summary.json tabulates them."""
import json

from src.fit import main
from tests.editing.test_fit import fit_args, records

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
