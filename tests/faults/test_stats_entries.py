"""The key-statistics cache: entries written whole or not at all, read with ``weights_only``,
rebuilt when damaged (naming the file), and usable when the cache cannot be written."""
import logging
from pathlib import Path

import pytest
import torch

import src.editing.stats as stats

C = torch.eye(3, dtype=torch.float64)


@pytest.fixture
def computed(monkeypatch):
    """Counts computations of C (the model is not needed to test the cache)."""
    calls = []
    monkeypatch.setattr(stats, "key_second_moment", lambda adapter, layer, texts: calls.append(layer) or C.clone())
    return calls


def cached(tmp_path: Path) -> torch.Tensor:
    (tmp_path / "model").mkdir(exist_ok=True)
    return stats.cached_second_moment(None, str(tmp_path / "model"), 0, "corpus", [[1, 2]], tmp_path / "cache")


def entry(tmp_path: Path) -> Path:
    return stats._cache_file(tmp_path / "cache", str(tmp_path / "model"), 0, "corpus", [[1, 2]])


def test_damaged_entry_is_named_and_rebuilt(tmp_path, computed, caplog):
    cached(tmp_path)
    path = entry(tmp_path)
    path.write_bytes(path.read_bytes()[:40])
    with caplog.at_level(logging.WARNING, logger="src.editing.stats"):
        assert torch.equal(cached(tmp_path), C)
    assert computed == [0, 0] and f"{path}: damaged key statistics" in caplog.text
    assert torch.equal(torch.load(path, weights_only=True), C)  # the rebuilt entry is whole


class Payload:
    def __reduce__(self):  # unpickling this would create the marker file
        return (Path.touch, (Path(MARKER),))


MARKER = ""


def test_entries_are_read_without_running_pickled_code(tmp_path, computed, monkeypatch):
    global MARKER
    MARKER = str(tmp_path / "ran")
    (tmp_path / "model").mkdir()
    path = entry(tmp_path)
    path.parent.mkdir(parents=True)
    torch.save({"C": Payload()}, path)
    assert torch.equal(cached(tmp_path), C) and not Path(MARKER).exists()


def test_a_failed_write_leaves_no_torn_entry(tmp_path, computed, monkeypatch):
    def torn_save(obj, f):
        Path(f).write_bytes(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", torn_save)
    assert torch.equal(cached(tmp_path), C)  # used uncached
    assert not entry(tmp_path).exists() and not list(entry(tmp_path).parent.iterdir())


def test_an_unwritable_cache_is_read_and_computed_without_writing(tmp_path, computed, monkeypatch):
    cached(tmp_path)

    def refuse(path):
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr(stats, "replacing", refuse)
    assert torch.equal(cached(tmp_path), C) and computed == [0]  # read from the cache
    entry(tmp_path).unlink()
    assert torch.equal(cached(tmp_path), C) and computed == [0, 0]  # computed, not cached
