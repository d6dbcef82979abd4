"""zsRE in MEND's layout: the question with its subject as "{}" is the prompt, ``alt`` the new
answer, ``rephrase`` the paraphrase, the NQ question ``loc`` with ``loc_ans`` the neighbour."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..requests import EditRequest, RequestSet, as_list, read_json, subject_template

NQ_PREFIX = "nq question: "


def _request(rec: dict[str, Any], case_id: str) -> EditRequest:
    prompt, subject = subject_template(rec["src"], rec["subject"])
    loc = [q.removeprefix(NQ_PREFIX) for q in as_list(rec.get("loc"))]
    return EditRequest(
        case_id, prompt, subject, rec["alt"], next(iter(rec.get("answers") or []), None),
        paraphrase_prompts=as_list(rec.get("rephrase")),
        neighborhood_prompts=loc, neighborhood_targets=as_list(rec.get("loc_ans")))


def load_zsre(path: str | Path) -> RequestSet:
    """Requests from a MEND zsRE JSON file; the case id is the record index (the file has none)."""
    out = RequestSet(str(path))
    for i, rec in enumerate(read_json(path)):
        out.add(i, str(i), lambda: _request(rec, str(i)))
    return out
