"""A run none of whose requests can be edited: every rejection recorded with its reason, a clear
error (a non-zero exit), and a summary that counts them."""
import json

import pytest

from callbacks.results import NothingToEdit
from src.data.requests import EditRequest
from src.fit import main
from tests.editing.test_fit import fit_args, records


def test_every_record_rejected_is_recorded_and_the_run_fails(tiny_cache, tmp_path):
    bad = [EditRequest("no-subject", "It works for", "Subj A", "Zed"), EditRequest("empty", "{} works for", "Subj A", "")]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps([r.to_dict() for r in bad]))
    args = fit_args(tmp_path, "run", "llama", "--data.source", "requests", "--data.path", str(path),
                    "--data.target_lengths", "null")
    with pytest.raises(NothingToEdit, match=f"all 2 requests of {path} were rejected, each recorded with its reason"):
        main(args)
    recs = records(tmp_path / "run")
    assert {c: r["status"] for c, r in recs.items()} == {"no-subject": "failed", "empty": "failed"}
    assert "placeholder" in recs["no-subject"]["reason"] and "target_new is empty" in recs["empty"]["reason"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["failed"] == 2 and summary["ok"] == 0
    with pytest.raises(NothingToEdit):  # and again on a rerun: nothing is left to do
        main(args)


def test_no_request_selected_fails_naming_the_options(tiny_cache, tmp_path):
    with pytest.raises(NothingToEdit, match="gives no requests with these options .*--data.target_lengths"):
        main(fit_args(tmp_path, "run", "llama", "--data.target_lengths", "[15]"))
