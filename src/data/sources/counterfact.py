"""CounterFact in both layouts: KnowEdit's flat records and ROME's original nested ones."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..requests import EditRequest, RequestSet, as_list, read_json, subject_template


def _nested(rec: dict[str, Any], case_id: str) -> EditRequest:
    rw = rec["requested_rewrite"]
    true = rw["target_true"]["str"]
    neighbours = as_list(rec.get("neighborhood_prompts"))
    return EditRequest(
        case_id, rw["prompt"], rw["subject"], rw["target_new"]["str"], true, rw.get("relation_id"),
        paraphrase_prompts=as_list(rec.get("paraphrase_prompts")),
        # ROME's neighbours share the edited subject's true object.
        neighborhood_prompts=neighbours, neighborhood_targets=[true] * len(neighbours))


def _flat(rec: dict[str, Any], case_id: str) -> EditRequest:
    prompt, subject = subject_template(rec["prompt"], rec["subject"])
    return EditRequest(
        case_id, prompt, subject, rec["target_new"], rec.get("ground_truth"), rec.get("relation_id"),
        paraphrase_prompts=as_list(rec.get("rephrase_prompt")),
        neighborhood_prompts=as_list(rec.get("locality_prompt")),
        neighborhood_targets=as_list(rec.get("locality_ground_truth")))


def load_counterfact(path: str | Path) -> RequestSet:
    """Requests from a CounterFact JSON file; the layout is told apart per record."""
    out = RequestSet(str(path))
    for i, rec in enumerate(read_json(path)):
        case_id = str(i if rec.get("case_id") is None else rec["case_id"])
        build = _nested if rec.get("requested_rewrite") is not None else _flat
        out.add(i, case_id, lambda: build(rec, case_id))
    return out
