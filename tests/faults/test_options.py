"""Options that would do nothing or fail late are refused when LightningCLI builds the classes,
naming the option as it is typed."""
import pytest

from src.data.datamodule import EditDataModule
from src.editing import ROME
from src.fit import main
from tests.editing.test_fit import fit_args


@pytest.mark.parametrize("option, value, message", [
    ("steps", 0, "--data.steps must be positive, got 0"),
    ("per_length", 0, "--data.per_length must be positive or null, got 0"),
    ("per_length", -3, "--data.per_length must be positive or null, got -3"),
    ("batch_size", 0, "--data.batch_size must be positive, got 0"),
    ("limit", 0, "--data.limit must be positive or null, got 0"),
    ("target_lengths", [], "--data.target_lengths is empty"),
])
def test_data_options_are_refused_at_construction(option, value, message):
    with pytest.raises(ValueError, match=message):
        EditDataModule(**{option: value})


def test_no_edit_layer_is_refused_before_the_model_loads():
    # The path does not exist: the check comes before any loading.
    with pytest.raises(ValueError, match=r"--model.init_args.layers is empty"):
        ROME(model_path="/nonexistent/model", layers=[])


def test_cli_names_the_option(tiny_cache, tmp_path):
    with pytest.raises(Exception, match="--data.steps must be positive, got 0"):
        main(fit_args(tmp_path, "run", "llama", "--data.steps", "0"))
    assert not (tmp_path / "run").exists()


def test_batch_size_above_max_batch_is_refused_at_start(tiny_cache, tmp_path):
    with pytest.raises(ValueError, match="--data.batch_size 8 exceeds --model.init_args.max_batch 4"):
        main(fit_args(tmp_path, "run", "llama", "--data.batch_size", "8", "--model.init_args.max_batch", "4",
                      "--data.per_length", "1"))  # 2 edits: the old check at the first group never fired
    assert not list((tmp_path / "run").glob("edits*.jsonl"))
