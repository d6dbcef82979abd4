"""A prompt longer than the model's positions is rejected, naming the record and both lengths."""
import json

from src.data.requests import EditRequest
from src.fit import main
from tests.editing.test_fit import fit_args, records


def test_a_prompt_past_the_models_positions_is_rejected(tiny_cache, tmp_path):
    requests = [EditRequest("short", "{} works for", "Subj A", "Zed"),
                EditRequest("long", "and so on " * 60 + "{} works for", "Subj A", "Zed")]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps([r.to_dict() for r in requests]))
    main(fit_args(tmp_path, "run", "llama", "--data.source", "requests", "--data.path", str(path),
                  "--data.target_lengths", "null"))
    recs = records(tmp_path / "run")
    assert recs["short"]["status"] == "ok"
    assert recs["long"]["status"] == "failed"
    assert "tokens, more than the model's 128 positions (config.json)" in recs["long"]["reason"]
