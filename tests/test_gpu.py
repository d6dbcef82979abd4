"""The edit path on CUDA (skipped where there is no GPU, as in CI).

    python -m pytest -q -m gpu

Two ranks need two processes: with two or more GPUs they run on two devices over NCCL, as a
user's DDP run does; with one GPU both share it over gloo (NCCL refuses two ranks on one
device), which still runs the sharding and every cross-rank reduction on CUDA tensors.
"""
import socket
import subprocess
import sys

import pytest
import torch

from src.fit import main
from tests.editing.test_fit import ROOT, fit_args, pythonpath_env, records

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

GPU = ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]


def assert_same_edits(first: dict[str, dict], second: dict[str, dict]) -> None:
    """Equal loss traces (1e-3) and scores; CUDA's and the CPU's float sums differ in the last
    bits, which may flip one decode whose top two logits nearly tie, so one score may differ."""
    assert set(first) == set(second) and first
    flips = []
    for cid in first:
        assert first[cid]["loss_trace"] == pytest.approx(second[cid]["loss_trace"], rel=1e-3, abs=1e-3)
        flips += [(cid, key) for key in ("efficacy", "generalisation", "specificity")
                  if first[cid][key] != second[cid][key]]
    assert len(flips) <= 1, flips


@pytest.mark.parametrize("family", ["llama", "llada", "dream"])
def test_gpu_edits_match_cpu_edits(tiny_cache, tmp_path, family):
    main(fit_args(tmp_path, "cpu", family, "--data.batch_size", "4"))
    main(fit_args(tmp_path, "gpu", family, "--data.batch_size", "4", *GPU))
    assert_same_edits(records(tmp_path / "cpu"), records(tmp_path / "gpu"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_rank_run(tmp_path, base: list[str]) -> None:
    env = pythonpath_env()
    if torch.cuda.device_count() >= 2:
        cmd = [sys.executable, "-m", "src.fit", *base, "--trainer.accelerator", "gpu",
               "--trainer.devices", "2", "--trainer.strategy", "ddp"]
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, capture_output=True, timeout=600)
        return
    # One GPU: two single-device "nodes" on this machine, launched as a cluster scheduler would.
    cmd = [sys.executable, "-m", "src.fit", *base, *GPU, "--trainer.num_nodes", "2",
           "--trainer.strategy.class_path", "lightning.pytorch.strategies.DDPStrategy",
           "--trainer.strategy.init_args.process_group_backend", "gloo"]
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), LOCAL_RANK="0", WORLD_SIZE="2")
    nodes = [subprocess.Popen(cmd, cwd=ROOT, env=dict(env, NODE_RANK=str(rank)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    for node in nodes:
        out, _ = node.communicate(timeout=600)
        assert node.returncode == 0, out[-3000:]


def test_two_ranks_on_gpu_match_one_process(tiny_cache, tmp_path):
    main(fit_args(tmp_path, "one", "llada", "--data.batch_size", "2", *GPU))
    two_rank_run(tmp_path, fit_args(tmp_path, "two", "llada", "--data.batch_size", "2"))
    one, two = records(tmp_path / "one"), records(tmp_path / "two")
    assert {r["rank"] for r in two.values()} == {0, 1}
    assert_same_edits(one, two)


def test_nccl_rank_reduces_its_metrics_on_its_device(tiny_cache, tmp_path):
    # NCCL has no CPU collectives: every state the callbacks all-reduce must sit on the GPU.
    env = pythonpath_env()
    cmd = [sys.executable, "-m", "src.fit", *fit_args(tmp_path, "nccl", "llada"), *GPU, "--trainer.strategy", "ddp"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=nccl" in done.stdout + done.stderr
    assert len(records(tmp_path / "nccl")) == 6
