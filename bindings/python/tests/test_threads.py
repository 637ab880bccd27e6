"""Two threads training two models at once give exactly the sequential results (ctypes
releases the GIL, so both threads are inside libdfm together)."""

import threading

import dfm
import numpy as np
from _models import synthetic_batches, train


def test_two_threads_match_sequential():
    data_a = synthetic_batches(1, 12)
    data_b = synthetic_batches(2, 12)
    # Model init draws from the global generator; build each model's init under its own seed
    # in sequence, then train concurrently (training itself draws nothing: no dropout).
    seq_a = train(10, 12, data_a)
    seq_b = train(20, 12, data_b)

    results = {}
    dfm.manual_seed(10)
    import dfm.nn as nn
    from _models import SmallNet

    models = {}
    for name, seed in (("a", 10), ("b", 20)):
        dfm.manual_seed(seed)
        models[name] = SmallNet(classes=4)

    def run(name, data):
        model = models[name]
        opt = dfm.optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()
        losses = []
        for x, y in data:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results[name] = (losses, [p.detach().numpy().copy() for p in model.parameters()])

    threads = [threading.Thread(target=run, args=("a", data_a)), threading.Thread(target=run, args=("b", data_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, seq in (("a", seq_a), ("b", seq_b)):
        losses, params = results[name]
        assert losses == seq[0], f"thread {name}: losses differ from the sequential run"
        for p, q in zip(params, seq[1]):
            assert np.array_equal(p, q)
    assert len(set(seq_a[0])) > 1  # the models did train
