"""The paired gain of one run over another on the same edits (``src.evaluation.paired``)."""
import json

import pytest

from src.evaluation.paired import main, paired_gain, read_records


def record(case_id: str, length: int, efficacy: float | None, status: str = "ok") -> dict:
    return {"case_id": case_id, "target_length": length, "efficacy": efficacy, "status": status}


def records(*rows: dict) -> dict[str, dict]:
    return {r["case_id"]: r for r in rows}


BASE = records(record("a", 2, 1.0), record("b", 2, 0.0), record("c", 2, 0.0), record("d", 2, 1.0),
               record("e", 3, 0.0), record("f", 3, None, "failed"), record("only_base", 3, 1.0))
OTHER = records(record("a", 2, 1.0), record("b", 2, 1.0), record("c", 2, 1.0), record("d", 2, 0.0),
                record("e", 3, 1 / 3), record("f", 3, 1.0), record("only_other", 3, 0.0))


def test_gain_counts_and_interval_per_length():
    gains = paired_gain(BASE, OTHER)
    assert sorted(gains) == [2, 3]
    two = gains[2]
    assert (two.n, two.better, two.worse) == (4, 2, 1) and two.gain == pytest.approx(0.25)
    assert -1 <= two.low <= two.gain <= two.high <= 1 and two.low < two.high
    # Only edits both runs scored: the failed edit and the unshared ones are left out.
    three = gains[3]
    assert (three.n, three.better, three.worse) == (1, 1, 0)
    assert three.gain == three.low == three.high == pytest.approx(1 / 3)
    assert paired_gain(BASE, OTHER) == gains  # seeded
    assert paired_gain(OTHER, BASE)[2].gain == pytest.approx(-0.25)


def test_interval_narrows_with_more_edits():
    def runs(n):
        base = records(*(record(str(i), 2, float(i % 2)) for i in range(n)))
        other = records(*(record(str(i), 2, 1.0) for i in range(n)))
        return paired_gain(base, other)[2]
    small, large = runs(20), runs(400)
    assert small.gain == large.gain == pytest.approx(0.5)
    assert large.high - large.low < small.high - small.low


def test_refuses_runs_that_share_nothing_or_disagree_on_a_length():
    with pytest.raises(ValueError, match="share no edit"):
        paired_gain(records(record("a", 2, 1.0)), records(record("b", 2, 1.0)))
    with pytest.raises(ValueError, match="edit a: target length 2 in one run, 3"):
        paired_gain(records(record("a", 2, 1.0)), records(record("a", 3, 1.0)))
    with pytest.raises(ValueError, match="level=1.5"):
        paired_gain(BASE, OTHER, level=1.5)


def test_cli_prints_writes_json_and_names_a_missing_folder(tmp_path, capsys):
    for name, rows in (("naive", BASE), ("corrected", OTHER)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "edits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows.values()))
    assert read_records(tmp_path / "naive") == BASE
    gains = main([str(tmp_path / "naive"), str(tmp_path / "corrected"), "--out", str(tmp_path / "g.json")])
    assert "+25.0" in capsys.readouterr().out
    assert json.loads((tmp_path / "g.json").read_text())["2"]["better"] == gains[2].better == 2
    with pytest.raises(SystemExit, match="nowhere: no edits.jsonl"):
        main([str(tmp_path / "naive"), str(tmp_path / "nowhere")])
