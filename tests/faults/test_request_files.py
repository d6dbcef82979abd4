"""Bad request files: each bad record fails alone, naming itself and its fault; a file that
cannot give requests at all (empty, shared case ids) is refused up front, naming the problem."""
import json

import pytest

from src.data.requests import EditRequest
from src.data.sources.native import load_native
from src.fit import main
from tests.editing.test_fit import fit_args, records


def request(case_id: str, **changes) -> dict:
    return EditRequest(case_id, "{} works for", "Subj A", "Zed").to_dict() | changes


def write(tmp_path, rows, name="requests.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return str(path)


def test_unknown_key_fails_only_its_own_record(tmp_path):
    found = load_native(write(tmp_path, [request("a"), request("b", colour="red"), request("c")]))
    assert [r.case_id for r in found.requests] == ["a", "c"]
    [(case_id, reason)] = found.rejected
    assert case_id == "b" and "record 1 (case b): unknown key(s) 'colour'" in reason


def test_missing_key_is_named(tmp_path):
    found = load_native(write(tmp_path, [{"case_id": "x", "prompt": "{} works for"}]))
    assert "missing key(s) 'subject', 'target_new'" in found.rejected[0][1]


@pytest.mark.parametrize("text", ["", "  \n", "[]"])
def test_empty_file_says_no_records(tmp_path, text):
    path = tmp_path / "empty.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"no records in {path}"):
        load_native(path)


def test_json_lines_error_names_the_line(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(request("a")) + "\n" + json.dumps(request("b"))[:20] + "\n")
    with pytest.raises(ValueError, match=f"{path}: not valid JSON or JSON lines \\(line 2"):
        load_native(path)


def test_duplicate_case_ids_are_refused_naming_them(tmp_path):
    path = write(tmp_path, [request("a"), request("b"), request("a"), request("b"), request("c")])
    with pytest.raises(ValueError, match=r"2 case ids are used by more than one record: 'a' \(records 0, 2\); "
                                         r"'b' \(records 1, 3\)"):
        load_native(path).require_unique_ids()


def test_a_fit_refuses_duplicate_ids_before_editing(tiny_cache, tmp_path):
    path = write(tmp_path, [request("a"), request("a", target_new="Zed Zed")])
    with pytest.raises(ValueError, match="'a' \\(records 0, 1\\)"):
        main(fit_args(tmp_path, "run", "llama", "--data.source", "requests", "--data.path", path,
                      "--data.target_lengths", "null"))
    assert not list((tmp_path / "run").glob("edits*.jsonl"))


def test_a_fit_edits_the_good_records_of_a_file_with_one_unknown_key(tiny_cache, tmp_path):
    path = write(tmp_path, [request("a"), request("b", colour="red")])
    main(fit_args(tmp_path, "run", "llama", "--data.source", "requests", "--data.path", path,
                  "--data.target_lengths", "null"))
    recs = records(tmp_path / "run")
    assert recs["a"]["status"] == "ok"
    assert recs["b"]["status"] == "failed" and "unknown key(s) 'colour'" in recs["b"]["reason"]
