"""torch.flip / roll / triu / tril / diag / prod / einsum, F.pad modes, pixel (un)shuffle,
conv1d, alpha dropout and their nn modules, and out= through the Python API: torch's
signatures and errors, and PyTorch parity on the Swift suite's fixtures
(Tests/DFMTests/Fixtures/ops/surface.safetensors, from tools/fixtures/ops_surface.py)."""

import json
import os

import dfm as torch
import dfm.nn as nn
import dfm.nn.functional as F
import numpy as np
import pytest
from dfm._serialization import load_file_with_metadata

FIXTURE = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "Tests", "DFMTests", "Fixtures", "ops", "surface.safetensors"
)


def _call(m, x):
    op = m["op"]
    if op == "flip":
        return x[0].flip(m["dims"])
    if op == "roll":
        return torch.roll(x[0], m["shifts"], m["dims"] or None)
    if op in ("triu", "tril", "diag"):
        return getattr(torch, op)(x[0], m["diagonal"])
    if op == "prod":
        return x[0].prod() if "dim" not in m else torch.prod(x[0], m["dim"], keepdim=m["keepdim"])
    if op == "einsum":
        return torch.einsum(m["equation"], *x)
    if op == "pad":
        return F.pad(x[0], m["pad"], mode=m["mode"], value=m["value"] if m["mode"] == "constant" else None)
    if op == "pixel_shuffle":
        return F.pixel_shuffle(x[0], m["r"])
    if op == "pixel_unshuffle":
        return F.pixel_unshuffle(x[0], m["r"])
    if op == "conv1d":
        b = x[2] if len(x) > 2 else None
        if m["padding"] == "same":
            return F.conv1d(x[0], x[1], b, padding="same", dilation=m["dilation"])
        return F.conv1d(x[0], x[1], b, m["stride"], m["padding"], m["dilation"], m["groups"])
    raise AssertionError(op)


def test_parity_with_pytorch():
    tensors, meta = load_file_with_metadata(FIXTURE)
    meta = {k: json.loads(v) for k, v in meta.items() if k != "format"}
    assert len(meta) == 98
    for case, m in meta.items():
        names = sorted(
            {k.split("/")[2] for k in tensors if k.startswith(case + "/in/")},
            key=lambda n: ["input", "weight", "bias"].index(n) if n in ("input", "weight", "bias") else int(n[1:]),
        )
        x = [tensors[f"{case}/in/{n}"].clone().requires_grad_() for n in names]
        y = _call(m, x)
        tol = 1e-12 if case.endswith("_f64") else 1e-5
        want = tensors[f"{case}/out/0"]
        assert y.dtype == want.dtype and tuple(y.shape) == tuple(want.shape), case
        np.testing.assert_allclose(y.detach().numpy(), want.numpy(), rtol=tol, atol=tol, err_msg=case)
        (y * tensors[f"{case}/gout/0"]).sum().backward()
        for n, t in zip(names, x):
            np.testing.assert_allclose(
                t.grad.numpy(), tensors[f"{case}/grad/{n}"].numpy(), rtol=tol, atol=tol, err_msg=f"{case} grad {n}"
            )


def test_tensor_methods_and_signatures():
    x = torch.arange(6.0).reshape(2, 3)
    assert x.flip(0).tolist() == [[3, 4, 5], [0, 1, 2]]
    assert x.flip(0, 1).tolist() == x.flip([0, 1]).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert torch.fliplr(x).tolist() == [[2, 1, 0], [5, 4, 3]] and torch.flipud(x).tolist() == x.flip(0).tolist()
    assert x.roll(1, 1).tolist() == [[2, 0, 1], [5, 3, 4]]
    assert torch.roll(x, -1).tolist() == [[1, 2, 3], [4, 5, 0]]
    assert x.triu().tolist() == [[0, 1, 2], [0, 4, 5]] and x.tril(-1).tolist() == [[0, 0, 0], [3, 0, 0]]
    assert torch.diag(torch.tensor([1, 2])).tolist() == [[1, 0], [0, 2]]  # int64 too
    assert x.diag(1).tolist() == [1, 5]
    assert x.prod().item() == 0 and x.prod(1).tolist() == [0, 60] and x.prod(0, keepdim=True).shape == (1, 3)
    assert torch.tensor([2, 3, 4]).prod().item() == 24 and torch.tensor([2, 3]).prod().dtype is torch.int64
    assert torch.einsum("ij->j", x).tolist() == [3, 5, 7]
    assert torch.einsum("ij,kj->ik", [x, x]).tolist() == (x @ x.t()).tolist()
    m = torch.ones(3, 3)
    assert m.triu_(1) is m and m.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_modules():
    torch.manual_seed(0)
    c = nn.Conv1d(4, 6, 3, stride=2, padding=1)
    assert c.weight.shape == (6, 4, 3) and c.bias.shape == (6,)
    assert c(torch.randn(2, 4, 9)).shape == (2, 6, 5) and c(torch.randn(4, 9)).shape == (6, 5)
    assert repr(c) == "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,))"
    for mode in ("reflect", "replicate", "circular"):
        c1 = nn.Conv1d(2, 2, 3, padding=1, padding_mode=mode)
        x = torch.randn(1, 2, 5)
        assert torch.allclose(c1(x), F.conv1d(F.pad(x, [1, 1], mode=mode), c1.weight, c1.bias))
        c2 = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
        x = torch.randn(1, 2, 5, 6)
        assert c2(x).shape == (1, 3, 5, 8)
        assert torch.allclose(c2(x), F.conv2d(F.pad(x, [2, 2, 1, 1], mode=mode), c2.weight, c2.bias))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    assert nn.ReflectionPad2d(1)(x).shape == (1, 1, 5, 5) and nn.ReflectionPad2d(1)(x)[0, 0, 0, 0].item() == 4
    assert nn.ReplicationPad2d((1, 0, 0, 1))(x)[0, 0, 3].tolist() == [6, 6, 7, 8]
    assert nn.ZeroPad2d(1)(x).sum().item() == 36 and nn.ConstantPad1d(2, 3.5)(torch.zeros(1, 2)).tolist() == [
        [3.5] * 2 + [0] * 2 + [3.5] * 2
    ]
    assert nn.CircularPad1d((1, 0))(torch.arange(3.0).reshape(1, 3)).tolist() == [[2, 0, 1, 2]]
    ps = nn.PixelShuffle(2)
    y = ps(torch.arange(8.0).reshape(1, 4, 1, 2))
    assert y.shape == (1, 1, 2, 4) and y.flatten().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert torch.equal(nn.PixelUnshuffle(2)(y), torch.arange(8.0).reshape(1, 4, 1, 2))
    ad = nn.AlphaDropout(0.2)
    x = torch.randn(1000)
    assert torch.equal(ad.eval()(x), x)
    torch.manual_seed(3)
    a = ad.train()(x)
    torch.manual_seed(3)
    assert torch.equal(a, F.alpha_dropout(x, 0.2, True))
    # a dropped element becomes a * alpha' * (p - 1); a kept one a * x + a * alpha' * p
    alpha = 1.7580993408473766
    sa = 1 / np.sqrt((alpha * alpha * 0.2 + 1) * 0.8)
    got = a.numpy()
    kept = np.isclose(got, sa * x.numpy() + sa * alpha * 0.2, rtol=1e-5, atol=1e-6)
    assert np.allclose(got[~kept], sa * alpha * -0.8) and 700 < kept.sum() < 900


def test_bad_input():
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match="duplicates"):  # DFM_INVALID_ARGUMENT is a ValueError
        x.flip([0, 0])
    with pytest.raises(IndexError):
        x.flip(2)
    with pytest.raises(TypeError):
        x.flip(0.5)
    with pytest.raises(ValueError, match="align"):
        torch.roll(x, (1, 2), 0)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        torch.triu(torch.ones(3))
    with pytest.raises(RuntimeError, match="matrix or a vector"):
        torch.diag(torch.ones(1, 1, 1))
    with pytest.raises(RuntimeError, match="number of subscripts"):
        torch.einsum("ijk", x)
    with pytest.raises(RuntimeError, match="subscript"):
        torch.einsum("ij,jk->ik", x, x)
    with pytest.raises(TypeError):
        torch.einsum("ij", [x, 3])
    with pytest.raises(ValueError, match="less than the corresponding"):
        F.pad(x, [3, 3], mode="reflect")
    with pytest.raises(NotImplementedError):
        F.pad(x, [1, 1], mode="mirror")
    with pytest.raises(RuntimeError, match="divisible"):
        F.pixel_shuffle(torch.ones(1, 3, 2, 2), 2)
    with pytest.raises(RuntimeError, match="3D"):
        F.conv1d(torch.ones(3), torch.ones(1, 1, 1))
    with pytest.raises(ValueError):
        F.alpha_dropout(x, 2.0)
    assert x.tolist() == [[1.0] * 3] * 2


def test_out_keyword():
    a, b = torch.arange(6.0).reshape(2, 3), torch.ones(3, 2)
    out = torch.empty(2, 2)
    r = torch.mm(a, b, out=out)
    assert r is out and out.tolist() == [[3, 3], [12, 12]]
    out2 = torch.empty(0)
    assert torch.matmul(a, b, out=out2) is out2 and out2.shape == (2, 2)  # resized, no warning (it was empty)
    out3 = torch.zeros(5)
    with pytest.warns(UserWarning, match="resized"):
        torch.add(a, 1, out=out3)
    assert out3.shape == (2, 3) and out3[1, 2].item() == 6
    view_src = torch.zeros(2, 3)
    torch.mul(a, 2, out=view_src)
    assert view_src.tolist() == [[0, 2, 4], [6, 8, 10]]
    o = torch.empty(2, 3, dtype=torch.float64)
    torch.sub(a, 1, out=o)
    assert o.dtype is torch.float64 and o[0, 0].item() == -1
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.div(a, 2, out=torch.empty(2, 3, dtype=torch.int64))
    c = torch.empty(4, 3)
    assert torch.cat([a, a], out=c) is c and c[3].tolist() == [3, 4, 5]
    s = torch.empty(0)
    torch.stack([a, a], 1, out=s)
    assert s.shape == (2, 2, 3)
    assert torch.einsum("ij->i", a, out=torch.empty(2)).tolist() == [3, 12]
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        torch.mul(w, 2, out=torch.empty(2))
    with torch.no_grad():
        assert torch.mul(w, 2, out=torch.empty(2)).tolist() == [2, 2]
    vals, idx = torch.empty(0), torch.empty(0, dtype=torch.int64)
    r = torch.max(a, 1, out=(vals, idx))
    assert vals.tolist() == [2, 5] and idx.tolist() == [2, 2]


def test_grad_fn_names_and_next_functions():
    x = torch.randn(4, 3, requires_grad=True)
    lin = nn.Linear(3, 2)
    y = lin(x)
    assert type(y.grad_fn).__name__ == "AddmmBackward0" and y.grad_fn.name() == "AddmmBackward0"
    assert repr(y.grad_fn).startswith("<AddmmBackward0 object at 0x")
    nf = y.grad_fn.next_functions
    assert len(nf) == 3 and all(k == 0 for _, k in nf)
    leaves = [f for f, _ in nf if type(f).__name__ == "AccumulateGrad"]
    assert len(leaves) == 3 and any(f.variable.shape == (2, 3) for f in leaves)
    z = (y * 2).sum()
    assert type(z.grad_fn).__name__ == "SumBackward0"
    ((mul_fn, _),) = z.grad_fn.next_functions
    assert type(mul_fn).__name__ == "MulBackward0"
    assert type(mul_fn.next_functions[0][0]).__name__ == "AddmmBackward0"
    w = torch.ones(3)  # no grad: (None, 0)
    assert (x * w).grad_fn.next_functions[1] == (None, 0)
    names = {
        "ConvolutionBackward0": F.conv2d(torch.randn(1, 1, 3, 3, requires_grad=True), torch.ones(1, 1, 2, 2)),
        "ConvolutionBackward0 ": F.conv1d(torch.randn(1, 1, 3, requires_grad=True), torch.ones(1, 1, 2)),
        "SumBackward1": x.sum(1),
        "MeanBackward0": x.mean(),
        "ViewBackward0": x.reshape(12),
        "FlipBackward0": x.flip(0),
        "ProdBackward1": x.prod(0),
        "TriuBackward0": x.triu(),
        "ReflectionPad1DBackward0": F.pad(x, [1, 1], mode="reflect"),
        "ConstantPadNdBackward0": F.pad(x, [1, 1]),
        "PixelShuffleBackward0": F.pixel_shuffle(torch.randn(1, 4, 1, 1, requires_grad=True), 2),
        "NllLossBackward0": F.cross_entropy(x, torch.tensor([0, 1, 2, 0])),
        "MmBackward0": x @ torch.ones(3, 2),
    }
    for name, t in names.items():
        assert type(t.grad_fn).__name__ == name.strip(), name
    assert x.grad_fn is None and torch.ones(2).grad_fn is None
    z.backward()
    assert z.grad_fn.next_functions == ()  # the graph is freed after backward
    assert "grad_fn=<AddmmBackward0>" in repr(lin(x))


def test_default_generator_seed():
    import subprocess
    import sys

    code = "import dfm; print(dfm.initial_seed(), dfm.randn(2).tolist())"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(torch.__file__)))
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0] != runs[1]  # a fresh seed from the OS per process, as torch
    torch.manual_seed(1234)
    assert torch.initial_seed() == 1234
    a = torch.randn(5)
    torch.manual_seed(1234)
    assert torch.equal(a, torch.randn(5))
    s = torch.seed()
    assert torch.initial_seed() == s and 0 <= s < 2**64
