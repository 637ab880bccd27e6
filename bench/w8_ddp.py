"""W8 of BENCHMARKS.md: W1's training step (DFM-ResNet18, fb 8, 10 classes, 3×32×32, T 5,
Adam) data-parallel over 4 processes of 1 thread, global batch 32 = 8 per rank, dfm on MPI
against PyTorch DDP over gloo with the same split.

    python3 bench/w8_ddp.py            # driver: interleaved rounds of both, prints a Markdown table
    mpirun -np 4 python3 bench/w8_ddp.py dfm      # one dfm run (a JSON line from rank 0)
    /work/torchvenv/bin/python bench/w8_ddp.py torch  # one PyTorch run (spawns 4 gloo processes)

Each rank: 2 warm-up steps, then REPS timed steps, each starting after a barrier; the step
time is the slowest rank's. dfm also reports the time its DDP spent on gradient communication
outside backward's compute (copies into buckets, starting reductions, waiting for them:
dfm_dist_ddp_stats) as a share of the step; PyTorch's is not separable the same way.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
RANKS, PER_RANK, T, WARMUP, REPS = 4, 8, 5, 2, 5
ATOL = 0.0  # every run does exactly T feedback steps (as bench/_workloads.py)


def run_steps(lib, F, dist, model, ddp, rank, comm=None):
    x = lib.randn(PER_RANK, 3, 32, 32)
    y = lib.randint(0, 10, (PER_RANK,))
    opt = lib.optim.Adam([p for p in ddp.parameters() if p.requires_grad], lr=1e-3)
    times, shares = [], []
    for i in range(WARMUP + REPS):
        dist.barrier()
        c0 = comm() if comm else 0.0
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(ddp(x, T=T, atol=ATOL), y)
        loss.backward()
        opt.step()
        t = time.perf_counter() - t0
        c = (comm() - c0) if comm else 0.0
        if i >= WARMUP:
            times.append(t)
            shares.append(c / t)
    return times, shares


def slowest(lib, dist, values):
    """Per-step maximum over ranks."""
    t = lib.tensor(values, dtype=lib.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def dfm_run():
    import dfm
    import dfm.distributed as dist
    import dfm.nn.functional as F

    dfm.set_num_threads(1)
    dist.init_process_group(backend="mpi")
    rank, n = dist.get_rank(), dist.get_world_size()
    assert n == RANKS, f"run under mpirun -np {RANKS}"
    dfm.manual_seed(rank)
    model = dfm.models.ResNet18(fb_filters=8, n_classes=10, shape=(32, 32))
    ddp = dfm.nn.parallel.DistributedDataParallel(model)
    times, shares = run_steps(dfm, F, dist, model, ddp, rank, comm=lambda: ddp.comm_stats()[0])
    step = slowest(dfm, dist, times)
    share = slowest(dfm, dist, shares)
    rss = slowest(dfm, dist, [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0])[0]
    if rank == 0:
        print(
            json.dumps(
                {
                    "impl": "dfm",
                    "ms": statistics.median(step) * 1e3,
                    "times_ms": [round(t * 1e3, 1) for t in step],
                    "comm_share": statistics.median(share),
                    "maxrss_mb": round(rss, 1),
                }
            ),
            flush=True,
        )
    dist.destroy_process_group()


def torch_worker(rank, port, out):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from dfm_torch import ResNet18

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", rank=rank, world_size=RANKS)
    torch.manual_seed(rank)
    model = ResNet18(fb_filters=8, n_classes=10, shape=(32, 32))
    # find_unused_parameters: the state initialisation gets no gradient (as in tools/fixtures/ddp_resnet.py).
    ddp = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    times, _ = run_steps(torch, F, dist, model, ddp, rank)
    step = slowest(torch, dist, times)
    rss = slowest(torch, dist, [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0])[0]
    if rank == 0:
        with open(out, "w") as f:
            json.dump(
                {
                    "impl": "torch",
                    "ms": statistics.median(step) * 1e3,
                    "times_ms": [round(t * 1e3, 1) for t in step],
                    "maxrss_mb": round(rss, 1),
                    "version": torch.__version__,
                },
                f,
            )
    dist.destroy_process_group()


def torch_run():
    import socket
    import tempfile

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        mp.spawn(torch_worker, args=(port, f.name), nprocs=RANKS, join=True)
        print(open(f.name).read(), flush=True)


def driver(rounds=2):
    torch_py = os.environ.get("TORCH_PYTHON", "/work/torchvenv/bin/python")
    results = {"dfm": [], "torch": []}
    for _ in range(rounds):
        for impl in ("torch", "dfm"):
            if impl == "dfm":
                cmd = [
                    "mpirun",
                    "--allow-run-as-root",
                    "--oversubscribe",
                    "-np",
                    str(RANKS),
                    sys.executable,
                    os.path.abspath(__file__),
                    "dfm",
                ]
            else:
                cmd = [torch_py, os.path.abspath(__file__), "torch"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            line = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
            results[impl].append(json.loads(line))
            print(impl, line, file=sys.stderr, flush=True)
    d = statistics.median([r["ms"] for r in results["dfm"]])
    t = statistics.median([r["ms"] for r in results["torch"]])
    share = statistics.median([r["comm_share"] for r in results["dfm"]])
    per = {k: ", ".join("%.0f" % r["ms"] for r in v) for k, v in results.items()}
    rss = {k: max(r["maxrss_mb"] for r in v) for k, v in results.items()}
    print("| impl | step ms (median of rounds) | per round | peak RSS per process MB | all-reduce share |")
    print("|---|---:|---|---:|---:|")
    print(f"| dfm (MPI, Python binding) | {d:.0f} | {per['dfm']} | {rss['dfm']:.0f} | {100 * share:.1f}% |")
    print(
        f"| PyTorch {results['torch'][0]['version']} DDP (gloo) | {t:.0f} | {per['torch']} | {rss['torch']:.0f} | - |"
    )
    print(f"\ndfm/PyTorch time: {d / t:.2f}; load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "driver"
    {"dfm": dfm_run, "torch": torch_run, "driver": driver}[mode]()
