"""Damaged or foreign checkpoint folders: the file at fault is named, remote code is announced as
not run, and a checkpoint of another kind than the config's masking schedule needs is flagged."""
import json
import logging
import shutil
from types import SimpleNamespace

import pytest

from src.data.datamodule import EditDataModule
from src.models import load_model


@pytest.fixture
def folder(tiny_cache, tmp_path, request):
    path = tmp_path / request.param
    shutil.copytree(tiny_cache.model_paths[request.param], path)
    return path


FAMILIES = pytest.mark.parametrize("folder", ["llama", "llada", "dream"], indirect=True)


@FAMILIES
@pytest.mark.parametrize("keep", [0.001, 0.9])  # inside the header; inside the tensors
def test_truncated_weights_name_the_file(folder, keep):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=f"{weights}: damaged safetensors file"):
        load_model(folder)


@FAMILIES
def test_malformed_config_names_the_file(folder):
    config = folder / "config.json"
    config.write_text(config.read_text()[:-3])
    with pytest.raises(ValueError, match=f"{config}: not valid JSON"):
        load_model(folder)


@FAMILIES
def test_remote_code_in_a_config_is_announced_and_not_run(folder, caplog):
    config = folder / "config.json"
    settings = json.loads(config.read_text())
    settings |= {"auto_map": {"AutoModel": "modeling_evil.Evil"}, "trust_remote_code": True}
    config.write_text(json.dumps(settings))
    with caplog.at_level(logging.WARNING, logger="src.models"):
        load_model(folder)
    [notice] = [r.getMessage() for r in caplog.records if "remote code" in r.getMessage()]
    assert f"{config} names remote code" in notice and "none runs" in notice and "\n" not in notice


def test_a_masking_schedule_on_an_autoregressive_checkpoint_is_flagged():
    data = EditDataModule(schedule="study")
    module = SimpleNamespace(max_batch=64, adapter=SimpleNamespace(kind="arm", family="llama"),
                             hparams=SimpleNamespace(model_path="/models/llama"))
    with pytest.warns(UserWarning, match="--data.schedule study is ignored: /models/llama is a llama checkpoint"):
        data._check_model(module)
