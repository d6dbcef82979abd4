"""Rerunning into a run folder: a line torn by a kill is set aside and the run resumes; a rerun
with options that would change the edits is refused, naming them, and leaves the folder as it was."""
import json

import pytest

from src.fit import main
from tests.editing.test_fit import fit_args, records


def test_torn_last_line_is_set_aside_and_the_run_resumes(tiny_cache, tmp_path):
    args = fit_args(tmp_path, "run", "llama", "--data.per_length", "2")
    main(args)
    edits = tmp_path / "run" / "edits.jsonl"
    lines = edits.read_text().splitlines()
    torn = lines[-1][: len(lines[-1]) // 2]  # a kill in the middle of the last append
    edits.write_text("\n".join(lines[:-1] + [torn]))
    main(args)
    recs = records(tmp_path / "run")
    assert len(recs) == len(lines) and all(r["status"] == "ok" for r in recs.values())
    assert (tmp_path / "run" / "edits.jsonl.torn").read_text() == torn + "\n"


def test_rerun_with_changed_options_is_refused_naming_them(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "run", "llama"))
    folder = tmp_path / "run"
    before = {name: (folder / name).read_text() for name in ("config.yaml", "edits.jsonl", "summary.json")}
    with pytest.raises(ValueError, match=r"holds edits made with other options: --data.steps 4 \(now 5\); "
                                         r"--model.init_args.lr 10.0 \(now 0.01\)\. Rerun with those"):
        main(fit_args(tmp_path, "run", "llama", "--model.init_args.lr", "0.01", "--data.steps", "5"))
    assert {name: (folder / name).read_text() for name in before} == before


def test_options_that_only_select_requests_may_change(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "run", "llama", "--data.per_length", "1"))
    main(fit_args(tmp_path, "run", "llama", "--data.per_length", "2", "--data.target_lengths", "[1, 2]"))
    assert len(records(tmp_path / "run")) == 4
    assert "--data.per_length" not in json.loads((tmp_path / "run" / "options.json").read_text())["data"]
