"""The fact world's own edit requests, length-controlled as KAMEL's (``kamel.length_controlled_requests``):
each relation's first template (or ``edit_template``) is the edit prompt, the others are paraphrases."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..requests import RequestSet
from .kamel import length_controlled_requests


def factworld_requests(world_file: Path, encode: Callable[[str], Sequence[int]], edit_template: int = 0,
                       **kw) -> RequestSet:
    """Requests over the facts of ``world_file`` (world.json); ``kw`` as ``length_controlled_requests``.

    ``edit_template`` picks which of each relation's templates is the edit prompt (the others,
    in order, are its paraphrases). Which token ends the edit prompt decides how much of ROME's
    update reaches it (README, "Where the written update acts")."""
    from src.factworld.world import World  # the world package imports this one

    world = World.from_json(world_file)
    templates = {r.name: r.templates for r in world.relations}
    fewest = min(len(ts) for ts in templates.values())
    if not 0 <= edit_template < fewest:
        raise ValueError(f"edit_template={edit_template}: the world's relations have {fewest} templates "
                         f"each, so choose 0..{fewest - 1}")
    templates = {rel: [ts[edit_template], *ts[:edit_template], *ts[edit_template + 1:]] for rel, ts in templates.items()}
    return length_controlled_requests(world.facts, templates, encode, source=str(world_file), **kw)
