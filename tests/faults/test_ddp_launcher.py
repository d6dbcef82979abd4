"""A rank started by the DDP launcher ends when the launcher is killed instead of running on orphaned."""
import os
import signal
import subprocess
import sys
import time

import pytest

from src.editing.strategy import IndependentDDPStrategy
from tests.editing.test_fit import ROOT, pythonpath_env

# The launcher: starts one "rank" that watches it (and then says so in a file), prints the
# rank's pid, then waits.
LAUNCHER = """
import subprocess, sys, time
rank = subprocess.Popen([sys.executable, "-c", "import sys; from src.editing.strategy import end_with_parent; "
                         "end_with_parent(poll_s=0.05); open(sys.argv[1], 'w').close(); "
                         "import time; time.sleep(300)", sys.argv[1]])
print(rank.pid, flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # An ended child of init may linger as a zombie until reaped.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_rank_ends_when_its_launcher_is_killed(tmp_path):
    watching = tmp_path / "watching"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(watching)], stdout=subprocess.PIPE,
                                cwd=ROOT, env=pythonpath_env(), text=True)
    rank = int(launcher.stdout.readline())
    try:
        deadline = time.time() + 120  # importing lightning takes a while on a busy machine
        while not watching.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert alive(rank)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        deadline = time.time() + 10
        while alive(rank) and time.time() < deadline:
            time.sleep(0.05)
        assert not alive(rank)
    finally:
        launcher.kill()
        if alive(rank):
            os.kill(rank, signal.SIGKILL)


@pytest.mark.parametrize("local_rank, watched", [(0, False), (1, True)])
def test_launched_ranks_watch_their_launcher(monkeypatch, local_rank, watched):
    import src.editing.strategy as strategy

    calls = []
    monkeypatch.setattr(strategy, "end_with_parent", lambda: calls.append(True))
    monkeypatch.setattr(strategy.DDPStrategy, "setup_environment", lambda self: None)
    monkeypatch.setattr(IndependentDDPStrategy, "local_rank", property(lambda self: local_rank))
    IndependentDDPStrategy().setup_environment()
    assert bool(calls) == watched
