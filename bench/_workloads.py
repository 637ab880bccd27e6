"""What both Python runners share (bench/workloads_torch.py with PyTorch, bench/workloads_dfm.py
with `import dfm as torch`): the W1-W7 table and the timed training/inference step. Written
once, run against either library; keep the table identical to bench/DFMBench/Workloads.swift.
"""

import resource
import statistics
import time

CLASSES = {"W5": 8}
# atol 0 never stops the loop early on real data (|e - e_prev| is never exactly 0), so
# every run does exactly T feedback steps, as dfm-bench does with the same setting.
ATOL = 0.0


def workloads(ResNet18, ResNet50, DeepLabV3Plus, ViT=None):
    """id: (builder, input shape (B, C, H, W), T, kind), with the given library's models."""
    return {
        "W1": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(32, 32)), (32, 3, 32, 32), 5, "train"),
        "W2": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(64, 64)), (32, 3, 64, 64), 5, "train"),
        "W3": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(32, 32)), (32, 3, 32, 32), 5, "infer"),
        "W4": (
            lambda: ResNet18(fb_filters=10, n_classes=10, shape=(28, 28), in_channels=1),
            (32, 1, 28, 28),
            5,
            "train",
        ),
        "W5": (
            lambda: DeepLabV3Plus(in_filters=3, fb_filters=2, class_filters=256, classes=8, shape=(64, 64)),
            (4, 3, 64, 64),
            3,
            "seg",
        ),
        "W6": (lambda: ResNet50(fb_filters=8, n_classes=10, shape=(64, 64)), (8, 3, 64, 64), 3, "train"),
        "W7": (
            lambda: ViT(
                image_size=(28, 28),
                patch_size=4,
                in_channels=1,
                dim=128,
                depth=6,
                heads=4,
                mlp_dim=256,
                fb_filters=8,
                n_classes=10,
            ),
            (32, 1, 28, 28),
            5,
            "train",
        ),
    }


def make_step(lib, F, workload, build, shape, T, kind):
    """The model and one step of the workload (`lib` is torch or dfm): inference under no_grad,
    or forward + cross-entropy + backward + Adam."""
    model = build()
    B, _, H, W = shape
    x = lib.randn(*shape)
    y = lib.randint(0, CLASSES.get(workload, 10), (B, H, W) if kind == "seg" else (B,))
    if kind == "infer":
        model.eval()

        def step():
            with lib.no_grad():
                return model(x, T=T, atol=ATOL)
    else:
        model.train()
        opt = lib.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x, T=T, atol=ATOL), y)
            loss.backward()
            opt.step()
            return loss

    return model, step


LAST_CPU = {}


def time_steps(step, warmup, reps):
    """(median ms, all timed ms, peak RSS MB so far) over `reps` steps after `warmup`.
    The timed steps' kernel-time share and page faults go to LAST_CPU."""
    times = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(warmup + reps):
        if i == warmup:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append((t1 - t0) * 1e3)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    user, sys_ = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    LAST_CPU.update(
        sys_pct=round(100 * sys_ / (user + sys_), 1) if user + sys_ > 0 else 0.0,
        cpu_s_per_step=round((user + sys_) / max(1, reps), 4),
        minflt_per_step=(r1.ru_minflt - r0.ru_minflt) // max(1, reps),
    )
    return statistics.median(times), times, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
