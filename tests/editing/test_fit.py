"""``python -m src.fit`` end to end on the tiny fact world: files, resumption, failures,
batch independence and DDP sharding."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.fit import main

ROOT = Path(__file__).resolve().parents[2]


def fit_args(tmp: Path, name: str, family: str = "llama", *extra: str, config: str = "llada_corrected.yaml") -> list[str]:
    return ["--config", config,
            "--model.init_args.model_path", f"factworld:{family}@tiny",
            "--model.init_args.layers", "[0]",
            "--trainer.logger.init_args.save_dir", str(tmp), "--trainer.logger.init_args.name", name,
            "--trainer.enable_progress_bar", "false",
            "--data.target_lengths", "[1, 2]", "--data.per_length", "3", "--data.steps", "4",
            "--data.n_neighbors", "2", *extra]


def pythonpath_env() -> dict[str, str]:
    """The environment for a ``python -m src.fit`` subprocess: this checkout first on the path."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def records(folder: Path) -> dict[str, dict]:
    return {r["case_id"]: r for r in map(json.loads, (folder / "edits.jsonl").read_text().splitlines())}


def assert_batch_sizes_agree(tmp: Path, family: str, small: int, large: int, *extra: str, **kwargs) -> None:
    """The same edits at two batch sizes: equal loss traces (rel 1e-4) and equal scores."""
    main(fit_args(tmp, "small", family, "--data.batch_size", str(small), *extra, **kwargs))
    main(fit_args(tmp, "large", family, "--data.batch_size", str(large), *extra, **kwargs))
    one, many = records(tmp / "small"), records(tmp / "large")
    assert set(one) == set(many)
    for cid in one:
        assert one[cid]["loss_trace"] == pytest.approx(many[cid]["loss_trace"], rel=1e-4, abs=1e-4)
        for key in ("efficacy", "generalisation", "specificity"):
            assert one[cid][key] == many[cid][key]


@pytest.mark.parametrize("family", ["llama", "llada", "dream"])
def test_fit_writes_results_summary_and_curves(tiny_cache, tmp_path, family):
    main(fit_args(tmp_path, "run", family, "--data.batch_size", "4"))
    folder = tmp_path / "run"
    recs = records(folder)
    assert len(recs) == 6 and all(r["status"] == "ok" for r in recs.values())
    assert all(len(r["loss_trace"]) == r["steps"] >= 1 for r in recs.values())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] == 6 and set(summary["per_length"]["efficacy"]) == {"1", "2"}
    assert (folder / "loss_curves.png").stat().st_size > 0
    assert list(folder.glob("events.out.tfevents.*"))


def test_rerun_resumes_without_repeating_edits(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "run", "llama", "--data.batch_size", "4", "--data.per_length", "2"))
    first = records(tmp_path / "run")
    main(fit_args(tmp_path, "run", "llama", "--data.batch_size", "4", "--data.per_length", "3"))
    second = records(tmp_path / "run")
    assert set(first) < set(second) and len(second) == 6
    assert all(second[c]["loss_trace"] == first[c]["loss_trace"] for c in first)


def test_bad_requests_are_recorded_and_the_run_goes_on(tiny_cache, tmp_path):
    from src.data.requests import EditRequest

    good = EditRequest("good", "{} works for", "Subj A", "Zed")
    bad = [EditRequest("no-subject", "It works for", "Subj A", "Zed", relation="x"),
           EditRequest("long", "{} works for", "Subj A", "Zed " * 30)]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps([r.to_dict() for r in [good, *bad]]))
    main(fit_args(tmp_path, "run", "llama", "--data.source", "requests", "--data.path", str(path),
                  "--data.target_lengths", "null"))
    recs = records(tmp_path / "run")
    assert recs["good"]["status"] == "ok"
    assert recs["no-subject"]["status"] == "failed" and "subject" in recs["no-subject"]["reason"]
    assert recs["long"]["status"] == "failed" and "max_target_tokens" in recs["long"]["reason"]


def test_batch_of_one_equals_batch_of_sixteen(tiny_cache, tmp_path):
    # The stated check: 16 edits one at a time and all in one batch.
    assert_batch_sizes_agree(tmp_path, "llada", 1, 16, "--data.schedule", "study", "--data.per_length", "8")
    assert len(records(tmp_path / "large")) == 16


# Dream sampling at temperature 1 draws its reveal order and tokens: each prompt's own seeded
# generator makes the edits that a rank gets decode as they do in one process.
DDP_CASES = [("llama", (), "llada_corrected.yaml"),
             ("dream", ("--model.init_args.decoder", '{"temperature": 1.0}'), "dream_corrected.yaml")]


@pytest.mark.parametrize("family, extra, config", DDP_CASES)
def test_two_process_ddp_matches_one_process(tiny_cache, tmp_path, family, extra, config):
    env = pythonpath_env()
    base = [sys.executable, "-m", "src.fit", *fit_args(tmp_path, "{}", family, "--data.batch_size", "2", *extra,
                                                      config=config)]
    for name, devices in (("one", "1"), ("two", "2")):
        cmd = [a.replace("{}", name) for a in base] + [
            "--trainer.devices", devices, "--trainer.strategy", "ddp" if devices == "2" else "auto"]
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True, timeout=600)
    one, two = records(tmp_path / "one"), records(tmp_path / "two")
    assert set(one) == set(two) and len(one) == 6
    assert {r["rank"] for r in two.values()} == {0, 1}
    for cid in one:
        assert one[cid]["loss_trace"] == pytest.approx(two[cid]["loss_trace"], rel=1e-4, abs=1e-4)
        assert one[cid]["efficacy"] == two[cid]["efficacy"]
        assert one[cid]["generated"] == two[cid]["generated"]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["ok"] == 6


def test_early_stop_waits_for_one_loss_per_reveal_count(tiny_cache, tmp_path):
    # Every loss is below the threshold: an edit of N tokens stops after exactly N steps, the
    # study's schedule having shown it k = 0..N-1 revealed tokens.
    main(fit_args(tmp_path, "run", "llada", "--data.schedule", "study", "--model.init_args.early_stop_loss", "1e9"))
    recs = records(tmp_path / "run")
    assert recs and all(r["steps"] == r["target_length"] for r in recs.values())
    # The stop test comes before the step: a one-token edit stops on its first loss, unmoved.
    assert {r["delta_norm"] == 0 for r in recs.values() if r["target_length"] == 1} == {True}
    assert all(r["delta_norm"] > 0 for r in recs.values() if r["target_length"] == 2)
