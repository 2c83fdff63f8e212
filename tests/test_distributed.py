"""Data-parallel SGD: DistributedSampler's split written out, K workers × B equal to one process × K·B,
both launchers (torchrun, torch.multiprocessing), two torchrun "nodes" on 127.0.0.1, and every fault
ending in a clear error within seconds with no process left behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data.distributed import DistributedSampler

from lessons_src import launch
from lessons_src.distributed import (
    PortInUseError,
    free_port,
    global_batch_steps,
    init_group,
    require_free_port,
    shard_indices,
)
from lessons_src.launch import (
    LaunchTimeout,
    WorkerFailed,
    alive,
    run_spawn,
    run_torchrun,
    start_torchrun,
    torchrun_command,
    worker_environment,
)
from lessons_src.models import TutorialMLP

ROOT = Path(__file__).resolve().parents[1]


# --- pure parts ----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), epoch=st.integers(0, 3), seed=st.integers(0, 5),
       shuffle=st.booleans(), drop_last=st.booleans())
def test_shard_indices_is_distributed_sampler(n, k, epoch, seed, shuffle, drop_last):
    if drop_last and n < k:
        return  # DistributedSampler gives every rank nothing then
    for rank in range(k):
        sampler = DistributedSampler(range(n), num_replicas=k, rank=rank, shuffle=shuffle, seed=seed,
                                     drop_last=drop_last)
        sampler.set_epoch(epoch)
        assert shard_indices(n, rank, k, epoch=epoch, seed=seed, shuffle=shuffle, drop_last=drop_last) == list(sampler)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), k=st.integers(1, 6), epoch=st.integers(0, 3))
def test_every_example_is_seen_once_per_epoch_plus_the_padding(n, k, epoch):
    shards = [shard_indices(n, r, k, epoch=epoch) for r in range(k)]
    seen = [i for shard in shards for i in shard]
    assert set(seen) == set(range(n)) and len({len(s) for s in shards}) == 1
    assert len(seen) - n == -n % k  # the padding: the fewest repeats that make N a multiple of K


def test_bad_arguments_name_the_argument_and_the_range():
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 1\]"):
        shard_indices(10, 2, 2)
    with pytest.raises(ValueError, match=r"port must be an int in \[1024, 65535\].*free_port"):
        require_free_port(80)
    with pytest.raises(RuntimeError, match="RANK.*torchrun"):
        init_group(timeout_s=1)
    with pytest.raises(ValueError, match="backend must be 'gloo'"):
        init_group("mpi")


def test_a_port_in_use_is_named_with_the_remedy_before_anything_starts():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for launcher in (run_torchrun, run_spawn):
            with pytest.raises(PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use.*port=None"):
                launcher("all_reduce", port=port)
    assert require_free_port(port) == port  # free again once its holder closed
    assert 1024 <= free_port() <= 65535


def test_a_master_port_taken_when_rank_0_listens_is_a_port_in_use_error_not_a_timeout(monkeypatch):
    """What a worker sees when another program took MASTER_PORT (torchrun by hand, or a race after the check)."""
    threads = torch.get_num_threads()  # init_group sets this process's threads
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for name, value in dict(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
            monkeypatch.setenv(name, value)
        start = time.perf_counter()
        try:
            with pytest.raises(PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use.*--master-port"):
                init_group(timeout_s=30)
        finally:
            torch.set_num_threads(threads)
        assert time.perf_counter() - start < 5  # at once, not after the 30 s of the group's timeout


def test_a_port_taken_between_the_check_and_rank_0_reaches_the_caller_as_port_in_use(monkeypatch):
    monkeypatch.setattr(launch, "require_free_port", lambda port: port)  # the race: the check passed, then taken
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        start = time.perf_counter()
        with pytest.raises(PortInUseError, match=rf"port {port} on 127.0.0.1 is already in use"):
            run_spawn("all_reduce", port=port, timeout_s=30, launch_timeout_s=60)
        assert time.perf_counter() - start < 20 and not multiprocessing.active_children()


# --- launches ------------------------------------------------------------------------------------
def temporary_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("course-ddp-*"))


def test_torchrun_starts_two_ranks_that_all_reduce_and_exit():
    before = temporary_folders()
    run = run_torchrun("all_reduce", nproc=2, timeout_s=20)
    assert temporary_folders() <= before  # the launch's own folder is gone with it
    assert [r["rank"] for r in run.results] == [0, 1] and {r["world_size"] for r in run.results} == {2}
    assert [r["after"] for r in run.results] == [3.0, 3.0] and run.results[0]["backend"] == "gloo"
    assert run.command.startswith("torchrun --nproc-per-node 2 --master-addr 127.0.0.1")
    assert len(run.pids) == 2 and not alive(run.pids)


def test_two_workers_with_batch_b_take_the_steps_of_one_process_with_batch_2b_with_spawn():
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    run = run_spawn("equivalence", data={"X": X, "y": y}, batch_size=8, num_steps=5, lr=0.05, momentum=0.9,
                    keep=[1, 5], timeout_s=20)
    indices = [r["by hand: indices"] for r in run.results]
    single = global_batch_steps(TutorialMLP, X, y, indices, lr=0.05, momentum=0.9, keep=[1, 5])
    for r in run.results:
        torch.testing.assert_close(r["by hand: weights"], single, rtol=0, atol=1e-6)
        torch.testing.assert_close(r["ddp: weights"], r["by hand: weights"], rtol=0, atol=1e-7)
        assert torch.equal(r["ddp: indices"], r["by hand: indices"])
    assert not set(indices[0][0].tolist()) & set(indices[1][0].tolist())  # the ranks' batches are disjoint
    assert not alive(run.pids)


def test_two_torchrun_nodes_on_loopback_form_one_group_of_two():
    """What two machines run (`--nnodes 2 --rdzv-backend c10d --rdzv-endpoint HOST:PORT`), as two local nodes."""
    port = free_port()
    nodes = [start_torchrun("all_reduce", nproc=1, nnodes=2, node_rank=i, port=port, rdzv_id="test-nodes",
                            timeout_s=20) for i in (0, 1)]
    assert "--nnodes 2" in nodes[0].command and f"--rdzv-endpoint 127.0.0.1:{port}" in nodes[0].command
    runs = [node.wait(60) for node in nodes]
    results = [r for run in runs for r in run.results]
    assert sorted(r["rank"] for r in results) == [0, 1] and {r["world_size"] for r in results} == {2}
    assert {r["after"] for r in results} == {3.0} and sorted(r["node"] for r in results) == [0, 1]
    assert not alive([pid for run in runs for pid in run.pids])


def test_the_first_failure_is_named_and_the_later_ones_are_summed_up_from_the_error_files(tmp_path):
    def error_file(rank, kind, message, at, **extra):
        fields = {"rank": rank, "type": kind, "message": message, "traceback": f"Traceback: {kind}", "time": at}
        (tmp_path / f"rank{rank}.error.json").write_text(json.dumps(fields | extra), encoding="utf-8")

    error_file(1, "ValueError", "the data file is gone", 10.0)
    error_file(0, "RuntimeError", "[/src/gloo/transport/tcp/pair.cc:561] Connection closed by peer "
                                  "[127.0.0.1]:37021. This is typically caused by a remote worker crashing.", 10.1)
    failure = launch._first_failure(tmp_path, 1.0, "")
    assert isinstance(failure, WorkerFailed) and (failure.rank, failure.kind) == (1, "ValueError")
    assert failure.details.splitlines()[-1] == ("(rank 0 then stopped with RuntimeError: Connection closed by peer "
                                                "[127.0.0.1]:37021)")
    error_file(0, "PortInUseError", "port 29500 on 127.0.0.1 is already in use", 9.0, port=29500)
    assert isinstance(launch._first_failure(tmp_path, 1.0, ""), PortInUseError)


@pytest.mark.parametrize("nnodes", [1, 2], ids=["one node", "two nodes"])
def test_the_commands_the_lesson_prints_create_their_out_folder(tmp_path, nnodes):
    """The torchrun lines of the workers' docstring and of section 6, run as a user would, from the repository's
    root, writing into a folder that does not exist yet."""
    out, port = tmp_path / "not" / "yet" / "results", free_port()
    commands = [torchrun_command("all_reduce", out, nproc=2 // nnodes, nnodes=nnodes, node_rank=node, port=port,
                                 rdzv_id="test-out", executable=sys.executable) for node in range(nnodes)]
    processes = [subprocess.Popen(command, cwd=ROOT, env=worker_environment(1), start_new_session=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for command in commands]
    try:
        logs = [process.communicate(timeout=60)[0].decode(errors="replace") for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert [process.returncode for process in processes] == [0] * nnodes, logs
    results = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["after"] for r in results] == [3.0, 3.0] and not alive([r["pid"] for r in results])


# --- faults --------------------------------------------------------------------------------------
@pytest.mark.parametrize("launcher", [run_torchrun, run_spawn], ids=["torchrun", "spawn"])
def test_a_rank_that_raises_stops_the_others_and_is_named_within_seconds(launcher):
    start = time.perf_counter()
    with pytest.raises(WorkerFailed, match="rank 1 failed: ValueError: the data file is gone") as caught:
        launcher("fail", fail_rank=1, message="the data file is gone", timeout_s=60, launch_timeout_s=60)
    assert time.perf_counter() - start < 20  # far below both timeouts: the failure itself stopped the launch
    assert caught.value.rank == 1 and len(caught.value.pids) == 2 and not alive(caught.value.pids)
    assert "Traceback" in caught.value.details and "ValueError" in caught.value.details


def test_a_rank_that_never_joins_gives_a_timeout_error_not_a_hang():
    start = time.perf_counter()
    with pytest.raises(WorkerFailed, match=r"rank 0 failed: TimeoutError: rank 0 waited timeout_s=2 s") as caught:
        run_torchrun("all_reduce", join_delay={"1": 120}, timeout_s=2, launch_timeout_s=60)
    assert time.perf_counter() - start < 20 and not alive(caught.value.pids)


def test_a_rank_that_never_calls_its_all_reduce_times_the_collective_out():
    start = time.perf_counter()
    with pytest.raises(WorkerFailed, match=r"rank 0 failed: .*Timed out") as caught:
        run_spawn("stall", stall_rank=1, timeout_s=2, launch_timeout_s=60)
    assert time.perf_counter() - start < 20 and not alive(caught.value.pids)


def test_the_launch_timeout_stops_every_process():
    for launcher in (run_spawn, run_torchrun):
        with pytest.raises(LaunchTimeout, match="timeout_s=6 s.*stopped") as caught:
            launcher("stall", stall_rank=1, timeout_s=120, launch_timeout_s=6)
        assert len(caught.value.pids) == 2 and not alive(caught.value.pids)
