"""dfm.distributed (MPI), DistributedDataParallel and DistributedSampler.

The multi-process tests start `mpirun --allow-run-as-root --oversubscribe -np 2` on worker scripts
(mpi_workers/) themselves; they are skipped, with a message, only where mpirun is absent
(tools/setup.sh installs Open MPI, so `make test` runs them).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import dfm
import dfm.distributed as dist
import pytest
from dfm.utils.data import DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = os.path.join(HERE, "mpi_workers")
MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or not dist.is_available(),
    reason="mpirun / Open MPI not installed (tools/setup.sh installs openmpi-bin "
    "libopenmpi-dev): multi-process tests skipped",
)


def mpirun(script, *args, np_=2, timeout=240):
    cmd = [
        MPIRUN,
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        str(np_),
        sys.executable,
        os.path.join(WORKERS, script),
        *map(str, args),
    ]
    env = dict(os.environ, DFM_LIBRARY=dfm._lib.path, OMPI_MCA_rmaps_base_oversubscribe="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def assert_ok(p, ranks=2):
    assert p.returncode == 0, p.stdout + p.stderr
    for r in range(ranks):
        assert f"OK rank {r}" in p.stdout, p.stdout + p.stderr


@needs_mpi
def test_collectives_dtypes_and_shapes():
    assert_ok(mpirun("collectives.py"))


@needs_mpi
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ddp_equals_single_process_on_global_batch(dtype):
    assert_ok(mpirun("ddp_equal.py", dtype))


@needs_mpi
def test_ddp_resnet_matches_torch_gloo():
    assert_ok(mpirun("ddp_resnet.py", os.path.join(HERE, "fixtures", "ddp_resnet18.safetensors")))


@needs_mpi
def test_killed_rank_ends_job_and_checkpoint_loads(tmp_path):
    cmd = [
        MPIRUN,
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        "2",
        sys.executable,
        os.path.join(WORKERS, "killed.py"),
        str(tmp_path),
    ]
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, DFM_LIBRARY=dfm._lib.path)
    )
    try:
        deadline = time.time() + 120
        while not all((tmp_path / f"pid.{r}").exists() for r in range(2)):
            assert p.poll() is None, p.communicate()
            assert time.time() < deadline, "workers did not start training"
            time.sleep(0.1)
        os.kill(int((tmp_path / "pid.1").read_text()), signal.SIGKILL)
        t0 = time.time()
        out, err = p.communicate(timeout=60)  # bounded: the job must end by itself
        elapsed = time.time() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode != 0, out + err
    assert elapsed < 60
    assert "signal 9" in err or "Killed" in err or "exited on signal" in err, err
    state, meta = dfm._serialization.load_file_with_metadata(str(tmp_path / "last.safetensors"))
    assert int(meta["step"]) >= 2
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]


# ---- single process: no mpirun needed ------------------------------------------------------


def test_no_group_is_a_clear_error():
    if dist.is_initialized():
        pytest.skip("a process group exists in this process")
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(RuntimeError, match="has not been initialized"):
            fn()
    with pytest.raises(RuntimeError, match="has not been initialized"):
        dist.all_reduce(dfm.ones(2))
    with pytest.raises(RuntimeError, match="has not been initialized"):
        dfm.nn.parallel.DistributedDataParallel(dfm.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend"):
        dist.init_process_group(backend="nccl")
    assert dist.is_mpi_available() == dist.is_available()


def test_no_mpi_library_is_a_clear_error(tmp_path):
    """libdfm loads and runs without MPI; only creating a group fails, naming the fix."""
    code = (
        "import dfm, dfm.distributed as dist\n"
        "assert float((dfm.ones(3) * 2).sum()) == 6.0\n"
        "assert not dist.is_available()\n"
        "try:\n    dist.init_process_group(backend='mpi')\nexcept RuntimeError as e:\n    print('ERR', e)\n"
    )
    env = dict(
        os.environ,
        DFM_LIBRARY=dfm._lib.path,
        DFM_MPI_LIBRARY=str(tmp_path / "no-libmpi.so"),
        PYTHONPATH=os.path.dirname(HERE),
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ERR" in p.stdout and "MPI is not available" in p.stdout and "openmpi" in p.stdout, p.stdout


def test_libdfm_has_no_link_time_mpi_dependency():
    if shutil.which("ldd") is None:
        pytest.skip("ldd not available")
    out = subprocess.run(["ldd", dfm._lib.path], capture_output=True, text=True).stdout
    assert "libmpi" not in out, out


def _torch_sampler_fixture():
    with open(os.path.join(HERE, "fixtures", "distributed_sampler.json")) as f:
        return json.load(f)


def test_distributed_sampler_matches_torch_without_shuffle():
    """torch's DistributedSampler(shuffle=False) indices: padding, drop_last, every rank."""
    cases = _torch_sampler_fixture()
    assert len(cases) > 10
    for c in cases:
        s = DistributedSampler(
            range(c["n"]), num_replicas=c["num_replicas"], rank=c["rank"], shuffle=False, drop_last=c["drop_last"]
        )
        assert list(s) == c["indices"], c
        assert len(s) == c["num_samples"] == len(c["indices"]), c
        assert s.total_size == c["total_size"], c


def test_distributed_sampler_shuffle_epochs_and_cover():
    n, R = 23, 3
    for drop_last in (False, True):
        for epoch in (0, 1):
            parts = []
            for r in range(R):
                s = DistributedSampler(range(n), num_replicas=R, rank=r, shuffle=True, seed=5, drop_last=drop_last)
                s.set_epoch(epoch)
                parts.append(list(s))
                assert list(s) == parts[-1]  # deterministic for (seed, epoch)
            flat = sorted(i for p in parts for i in p)
            if drop_last:
                assert len(flat) == 21 and len(set(flat)) == 21
            else:
                assert len(flat) == 24 and set(flat) == set(range(n))
        e0 = [list(DistributedSampler(range(n), 3, 0, seed=5)) for _ in range(2)]
        s1 = DistributedSampler(range(n), 3, 0, seed=5)
        s1.set_epoch(1)
        assert e0[0] == e0[1] and list(s1) != e0[0]
    with pytest.raises(ValueError, match="Invalid rank"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    loader = dfm.utils.data.DataLoader(
        list(range(10)), batch_size=2, sampler=DistributedSampler(range(10), 2, 1, shuffle=False)
    )
    assert [b.tolist() for b in loader] == [[1, 3], [5, 7], [9]]
    from dfm.utils.data.distributed import DistributedSampler as D2

    assert D2 is DistributedSampler
