"""Optimizer and scheduler state_dict / load_state_dict go through the core's dfm_tensor_dict
(no files): a run resumed from them continues bitwise like the uninterrupted one."""

import tempfile

import dfm
import numpy as np
import pytest
from dfm import nn, optim


def _model():
    dfm.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _batches(n):
    g = np.random.default_rng(0)
    return [
        (dfm.tensor(g.standard_normal((5, 4)).astype(np.float32)), dfm.tensor(g.integers(0, 3, 5))) for _ in range(n)
    ]


def _train(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()


def _params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    ],
)
def test_resume_is_bitwise_equal(make_opt, monkeypatch):
    batches = _batches(6)
    # The uninterrupted run: 6 steps.
    m1 = _model()
    o1 = make_opt([{"params": m1[0].parameters()}, {"params": m1[2].parameters(), "lr": 5e-3}])
    s1 = optim.lr_scheduler.StepLR(o1, step_size=2, gamma=0.5)
    _train(m1, o1, s1, batches)

    # 3 steps, state dicts taken, a fresh model/optimizer/scheduler restored, 3 more steps.
    m2 = _model()
    o2 = make_opt([{"params": m2[0].parameters()}, {"params": m2[2].parameters(), "lr": 5e-3}])
    s2 = optim.lr_scheduler.StepLR(o2, step_size=2, gamma=0.5)
    _train(m2, o2, s2, batches[:3])

    def no_files(*a, **k):
        raise AssertionError("state dicts must not go through temporary files")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_files)
    monkeypatch.setattr(tempfile, "mkstemp", no_files)
    msd, osd, ssd = m2.state_dict(), o2.state_dict(), s2.state_dict()
    assert ssd["last_epoch"] == 3 and len(ssd["_core"]) == 2
    assert set(osd["state"]) == {0, 1, 2, 3}

    m3 = _model()
    o3 = make_opt([{"params": m3[0].parameters()}, {"params": m3[2].parameters(), "lr": 1.0}])
    s3 = optim.lr_scheduler.StepLR(o3, step_size=7, gamma=0.9)
    m3.load_state_dict(msd)
    o3.load_state_dict(osd)
    s3.load_state_dict(ssd)
    assert [g["lr"] for g in o3.param_groups] == [g["lr"] for g in o2.param_groups]
    assert s3.get_last_lr() == s2.get_last_lr() and s3.last_epoch == 3
    _train(m3, o3, s3, batches[3:])

    for a, b in zip(_params(m1), _params(m3)):
        assert a.tobytes() == b.tobytes()
    assert s3.get_last_lr() == s1.get_last_lr()


def test_refused_state_dicts_change_nothing():
    m = _model()
    opt = optim.Adam(m.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2)
    _train(m, opt, sched, _batches(2))
    before_opt, before_sched = opt.state_dict(), sched.state_dict()

    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = dfm.zeros(2)
    with pytest.raises(RuntimeError, match="exp_avg"):
        opt.load_state_dict(bad)
    sgd_sd = optim.SGD(m.parameters(), lr=0.1).state_dict()
    with pytest.raises(ValueError, match="Adam"):
        opt.load_state_dict(sgd_sd)
    bad_sched = sched.state_dict()
    bad_sched["_core"][0]["last_epoch"] = str(1 << 41)
    with pytest.raises(ValueError, match="last_epoch"):
        sched.load_state_dict(bad_sched)
    cos = optim.lr_scheduler.CosineAnnealingLR(optim.SGD(m.parameters(), lr=0.1), T_max=4)
    with pytest.raises(ValueError, match="StepLR"):
        cos.load_state_dict(sched.state_dict())

    after_opt, after_sched = opt.state_dict(), sched.state_dict()
    assert after_sched == before_sched
    for i, st in before_opt["state"].items():
        for k, t in st.items():
            assert t.numpy().tobytes() == after_opt["state"][i][k].numpy().tobytes()
