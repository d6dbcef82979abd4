"""The project's own request file: a JSON list of ``EditRequest`` dicts (``EditRequest.to_dict``)."""
from __future__ import annotations

from pathlib import Path

from ..requests import EditRequest, RequestSet, read_json


def load_native(path: str | Path) -> RequestSet:
    found = RequestSet(source=str(path))
    for index, record in enumerate(read_json(path)):
        found.add(index, str(record.get("case_id", index)), lambda r=record: EditRequest.from_dict(r))
    return found
