"""Shared fixtures: every test runs on the CPU, and the tiny fact world is trained once per
session into a temporary cache (MDM_EDIT_CACHE), never into the user's cache."""
import os

# Before torch loads: idle OpenMP threads sleep instead of spinning (3-30x slower when shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """The tiny fact world's four models, trained once (seconds) into a session cache."""
    from src.factworld.build import ensure_models
    from src.factworld.spec import load_spec

    root = tmp_path_factory.mktemp("cache")
    old = os.environ.get("MDM_EDIT_CACHE")
    os.environ["MDM_EDIT_CACHE"] = str(root)
    torch.manual_seed(0)
    assets = ensure_models(load_spec("tiny"))
    yield assets
    if old is None:
        os.environ.pop("MDM_EDIT_CACHE", None)
    else:
        os.environ["MDM_EDIT_CACHE"] = old
