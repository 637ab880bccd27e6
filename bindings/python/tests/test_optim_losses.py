"""Python API of the optimizers and losses added for issue #13: torch's constructor and
function signatures, checked against the PyTorch values of the Swift fixtures
(tools/fixtures/optim_extra.py and loss_extra.py)."""

import json
import os

import dfm as torch
import dfm.nn as nn
import dfm.nn.functional as F
import numpy as np
import pytest
from dfm import optim
from dfm._serialization import load_file_with_metadata

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "DFMTests", "Fixtures", "ops")


def _fixture(name):
    tensors, meta = load_file_with_metadata(os.path.join(FIXTURES, name + ".safetensors"))
    return tensors, {k: json.loads(v) for k, v in meta.items()}


LOSS_T, LOSS_META = _fixture("loss_extra")
OPT_T, OPT_META = _fixture("optim_extra")


def _close(got, want, spread, what):
    """Within 4x PyTorch's own float32 error on the case (vs float64, from the fixture) plus 4 ulps."""
    np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=4.8e-7, atol=4 * spread, err_msg=what)


# The Python binding is float32 only (its Tensor has no float64 yet); the float64 cases run in Swift.
@pytest.mark.parametrize("case", sorted(c for c in LOSS_META if LOSS_META[c]["dtype"] == "float32"))
def test_loss_functional_matches_pytorch(case):
    m = LOSS_META[case]
    ins = {}
    for key, t in LOSS_T.items():
        if key.startswith(case + "/in/"):
            name = key[len(case) + 4 :]
            x = t.clone()
            if x.is_floating_point() and name != "weight":
                x.requires_grad_(True)
            ins[name] = x
    out = getattr(F, m["fn"])(**ins, **m["kwargs"])
    _close(out, LOSS_T[case + "/out/0"], m["spread_out"], case)
    (out * LOSS_T[case + "/gout/0"]).sum().backward()
    for name, x in ins.items():
        want = LOSS_T.get(f"{case}/grad/{name}")
        if want is not None:
            _close(x.grad, want, m["spread_grad"], f"{case} grad {name}")


def test_loss_modules_are_their_functionals():
    g = np.random.default_rng(0)
    x = torch.tensor(g.normal(size=(4, 5)).astype("float32"))
    t = torch.tensor(g.normal(size=(4, 5)).astype("float32"))
    pm = torch.tensor(np.where(g.random((4, 5)) < 0.5, -1.0, 1.0).astype("float32"))
    p = x.sigmoid()
    cases = [
        (nn.L1Loss(), F.l1_loss(x, t), (x, t)),
        (nn.SmoothL1Loss(beta=0.5, reduction="sum"), F.smooth_l1_loss(x, t, beta=0.5, reduction="sum"), (x, t)),
        (nn.HuberLoss(delta=0.5), F.huber_loss(x, t, delta=0.5), (x, t)),
        (nn.SoftMarginLoss(), F.soft_margin_loss(x, pm), (x, pm)),
        (nn.BCELoss(), F.binary_cross_entropy(p, p.detach()), (p, p.detach())),
        (nn.KLDivLoss(reduction="batchmean"), F.kl_div(x, p, reduction="batchmean"), (x, p)),
        (nn.PoissonNLLLoss(), F.poisson_nll_loss(x, p), (x, p)),
        (nn.HingeEmbeddingLoss(margin=0.5), F.hinge_embedding_loss(x, pm, margin=0.5), (x, pm)),
        (nn.MultiLabelSoftMarginLoss(), F.multilabel_soft_margin_loss(x, p), (x, p)),
        (nn.MarginRankingLoss(margin=0.1), F.margin_ranking_loss(x, t, pm, margin=0.1), (x, t, pm)),
        (nn.CosineEmbeddingLoss(), F.cosine_embedding_loss(x, t, pm[:, 0]), (x, t, pm[:, 0])),
        (nn.TripletMarginLoss(margin=2.0), F.triplet_margin_loss(x, t, p, margin=2.0), (x, t, p)),
        (
            nn.MultiMarginLoss(p=2),
            F.multi_margin_loss(x, torch.tensor([0, 1, 2, 3]), p=2),
            (x, torch.tensor([0, 1, 2, 3])),
        ),
        (nn.GaussianNLLLoss(), F.gaussian_nll_loss(x, t, p), (x, t, p)),
    ]
    for module, want, args in cases:
        got = module(*args)
        assert float(got) == float(want), type(module).__name__
        assert got.item() > 0 or type(module).__name__ in ("KLDivLoss", "GaussianNLLLoss")
    # multilabel margin: class lists end at -1
    y = torch.tensor([[3, 0, -1, 1, 2], [1, -1, 0, 0, 0], [0, 1, 2, 3, 4], [-1, 0, 0, 0, 0]])
    assert nn.MultiLabelMarginLoss(reduction="none")(x, y).shape == (4,)


def test_loss_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError):
        F.smooth_l1_loss(x, x, reduction="avg")
    with pytest.raises(ValueError):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(Exception, match="between 0 and 1"):
        F.binary_cross_entropy(x + 2, x)
    with pytest.raises(Exception, match="out of bounds"):
        F.multi_margin_loss(x, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="same size"):
        F.l1_loss(x, x, weight=torch.ones(3))
    # torch's weighted L1: the mean divides by the sum of the weights
    w = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 2.0]])
    assert F.l1_loss(x, torch.ones(2, 3), weight=w).item() == pytest.approx(1.0)


def _make(name, params, kwargs):
    kw = dict(kwargs)
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return getattr(optim, name)(params, **kw)


@pytest.mark.parametrize(
    "case", sorted(c for c in OPT_META if "optimizer" in OPT_META[c] and OPT_META[c]["dtype"] == "float32")
)
def test_optimizers_match_pytorch(case):
    m = OPT_META[case]
    ps = [OPT_T[f"{case}/p{i}/init"].clone().requires_grad_(True) for i in range(m["nparams"])]
    opt = _make(m["optimizer"], ps, m["kwargs"])
    tol = 1e-12 if m["dtype"] == "float64" else 1e-6
    for s in range(m["steps"]):
        opt.zero_grad()
        for i, p in enumerate(ps):
            g = OPT_T.get(f"{case}/grad/{s}/{i}")
            if g is not None:
                p.grad = g.clone()
        opt.step()
        for i, p in enumerate(ps):
            np.testing.assert_allclose(
                p.detach().numpy(),
                OPT_T[f"{case}/after/{s}/{i}"].numpy(),
                rtol=tol,
                atol=tol,
                err_msg=f"{case} step {s} param {i}",
            )


@pytest.mark.parametrize("name", ["Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "ASGD"])
def test_optimizer_state_dict_round_trip(name):
    g = np.random.default_rng(1)
    grads = [torch.tensor(g.normal(size=(3,)).astype("float32")) for _ in range(6)]
    a = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    oa = getattr(optim, name)([a], lr=0.1)
    for k in range(3):
        a.grad = grads[k].clone()
        oa.step()
    b = a.detach().clone().requires_grad_(True)
    ob = getattr(optim, name)([b], lr=0.5)
    ob.load_state_dict(oa.state_dict())
    assert ob.param_groups[0]["lr"] == 0.1
    for k in range(3, 6):
        a.grad, b.grad = grads[k].clone(), grads[k].clone()
        oa.step()
        ob.step()
    assert a.tolist() == b.tolist()


def test_optimizer_errors_and_mnist_style_use():
    w = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="rho"):
        optim.Adadelta([w], rho=1.5)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([w], lr_decay=-1)
    with pytest.raises(ValueError, match="beta"):
        optim.NAdam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adamax([w], lr=-1)
    # pytorch/examples mnist: Adadelta(model.parameters(), lr=1.0) with StepLR(step_size=1, gamma=0.7)
    model = nn.Linear(4, 2)
    opt = optim.Adadelta(model.parameters(), lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.7**3)


LR = optim.lr_scheduler
SCHEDULERS = {
    "lambda_pow": lambda o: LR.LambdaLR(o, lambda e: 0.95**e),
    "multiplicative": lambda o: LR.MultiplicativeLR(o, lambda e: 0.9 if e < 4 else 1.1),
    "constant": lambda o: LR.ConstantLR(o, factor=0.5, total_iters=3),
    "linear": lambda o: LR.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4),
    "polynomial": lambda o: LR.PolynomialLR(o, total_iters=4, power=2.0),
    "warm_restarts": lambda o: LR.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    "warm_restarts_fractional": lambda o: LR.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
    "cyclic_triangular2": lambda o: LR.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=2, mode="triangular2"
    ),
    "cyclic_exp_range_adam": lambda o: LR.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=2, mode="exp_range", gamma=0.9, base_momentum=0.7, max_momentum=0.95
    ),
    "cyclic_no_momentum": lambda o: LR.CyclicLR(o, base_lr=0.05, max_lr=0.2, step_size_up=4, cycle_momentum=False),
    "sequential": lambda o: LR.SequentialLR(
        o, [LR.ConstantLR(o, factor=0.1, total_iters=2), LR.ExponentialLR(o, 0.9)], milestones=[3]
    ),
    "sequential_three": lambda o: LR.SequentialLR(
        o,
        [
            LR.LinearLR(o, start_factor=0.5, total_iters=2),
            LR.CosineAnnealingLR(o, T_max=4, eta_min=0.01),
            LR.StepLR(o, step_size=2, gamma=0.5),
        ],
        milestones=[2, 6],
    ),
    "chained": lambda o: LR.ChainedScheduler([LR.ConstantLR(o, factor=0.1, total_iters=3), LR.ExponentialLR(o, 0.9)]),
}


@pytest.mark.parametrize("case", sorted(c for c in OPT_META if "scheduler" in OPT_META[c]))
def test_schedulers_match_pytorch(case):
    m = OPT_META[case]
    p = torch.zeros(2, requires_grad=True)
    o = getattr(optim, m["opt"])([p], lr=m["lr"], **m["opt_kwargs"])
    sched = SCHEDULERS[case](o)
    got = [o.param_groups[0]["lr"]]
    for k in range(len(m["lrs"]) - 1):
        o.step()
        sched.step() if m["epochs"] is None else sched.step(m["epochs"][k])
        got.append(o.param_groups[0]["lr"])
        assert sched.get_last_lr() == [got[-1]]
    np.testing.assert_allclose(got, m["lrs"], rtol=1e-12, atol=1e-15)


def test_lambda_lr_errors_propagate():
    p = torch.zeros(2, requires_grad=True)
    o = optim.SGD([p], lr=0.1)

    def lam(e):
        if e == 2:
            raise KeyError("no multiplier for epoch 2")
        return 0.5

    s = LR.LambdaLR(o, lam)
    s.step()
    with pytest.raises(KeyError, match="epoch 2"):
        s.step()
    assert o.param_groups[0]["lr"] == 0.05
    with pytest.raises(ZeroDivisionError):
        LR.LambdaLR(o, lambda e: 1 / e)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas"):
        LR.LambdaLR(o, [lam, lam])
    with pytest.raises(ValueError, match="same optimizer"):
        LR.ChainedScheduler([LR.StepLR(o, 2), LR.StepLR(optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), 2)])
    with pytest.raises(ValueError, match="momentum"):
        LR.CyclicLR(optim.Adagrad([p]), 0.1, 1.0)


@pytest.mark.parametrize(
    "case", sorted(c for c in OPT_META if "lbfgs" in OPT_META[c] and OPT_META[c]["dtype"] == "float32")
)
def test_lbfgs_matches_pytorch(case):
    m = OPT_META[case]
    a = OPT_T[f"{case}/p0/init"].clone().requires_grad_(True)
    b = OPT_T[f"{case}/p1/init"].clone().requires_grad_(True)
    opt = optim.LBFGS([a, b], **m["kwargs"])

    def closure():
        opt.zero_grad()
        loss = ((1 - a) ** 2).sum() + 10 * ((b - a * a) ** 2).sum()
        loss.backward()
        return loss

    for s, want in enumerate(m["losses"]):
        loss = opt.step(closure)
        assert isinstance(loss, torch.Tensor)
        # float32: see OptimExtraTests.testLBFGSParityWithPyTorch for the 1e-3
        assert loss.item() == pytest.approx(want, rel=1e-3, abs=1e-3)
        np.testing.assert_allclose(a.detach().numpy(), OPT_T[f"{case}/after/{s}/0"].numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(b.detach().numpy(), OPT_T[f"{case}/after/{s}/1"].numpy(), rtol=1e-3, atol=1e-3)


def test_lbfgs_closure_errors_and_groups():
    w = torch.ones(3, requires_grad=True)
    opt = optim.LBFGS([w])

    def bad():
        raise RuntimeError("closure exploded")

    with pytest.raises(RuntimeError, match="closure exploded"):
        opt.step(bad)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([w], line_search_fn="backtracking")
    sd = opt.state_dict()
    optim.LBFGS([w]).load_state_dict(sd)
