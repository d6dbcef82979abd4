"""The fact world's own edit requests, length-controlled as KAMEL's (``kamel.length_controlled_requests``):
each relation's first template is the edit prompt, the others are paraphrases."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..requests import RequestSet
from .kamel import length_controlled_requests


def factworld_requests(world_file: Path, encode: Callable[[str], Sequence[int]], **kw) -> RequestSet:
    """Requests over the facts of ``world_file`` (world.json); ``kw`` as ``length_controlled_requests``."""
    from src.factworld.world import World  # the world package imports this one

    world = World.from_json(world_file)
    return length_controlled_requests(world.facts, {r.name: r.templates for r in world.relations}, encode,
                                      source=str(world_file), **kw)
