"""No leaks across the boundary: resident memory and live handles stay flat over
hundreds of training steps."""

import gc
import os

import dfm
import dfm.nn as nn
from _models import SmallNet


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_rss_and_handles_flat():
    if not os.path.exists("/proc/self/status"):
        import pytest

        pytest.skip("needs /proc")
    dfm.manual_seed(0)
    model = SmallNet(classes=4)
    opt = dfm.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = dfm.rand(8, 1, 8, 8)
    y = dfm.randint(0, 4, (8,))

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()
            _ = model(dfm.from_numpy(x.numpy().copy())).detach().numpy()  # zero-copy paths too

    steps(100)  # warm-up: allocator pools, caches
    gc.collect()
    rss0, handles0 = _rss_kb(), dfm.live_handle_count()
    steps(300)
    gc.collect()
    rss1, handles1 = _rss_kb(), dfm.live_handle_count()
    assert handles1 == handles0, f"live handles grew from {handles0} to {handles1}"
    assert rss1 - rss0 < 8 * 1024, f"RSS grew by {rss1 - rss0} kB over 300 steps"
