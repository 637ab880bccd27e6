"""dfm.nn.RNN / LSTM / GRU and the cells through the Python API: torch's signatures, return
structure, parameter names and errors, and PyTorch parity on the Swift suite's fixtures
(Tests/DFMTests/Fixtures/ops/recurrent.safetensors, from tools/fixtures/recurrent.py)."""

import json
import os
import warnings

import dfm as torch
import dfm.nn as nn
import numpy as np
import pytest
from dfm._serialization import load_file_with_metadata

FIXTURE = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "Tests", "DFMTests", "Fixtures", "ops", "recurrent.safetensors"
)


def _fixture():
    tensors, meta = load_file_with_metadata(FIXTURE)
    return tensors, {k: json.loads(v) for k, v in meta.items() if k != "format"}


@pytest.mark.parametrize("prec", ["f32", "f64"])
def test_parity_with_pytorch(prec):
    tensors, meta = _fixture()
    assert len(meta) == 17
    for case, m in meta.items():
        pre = f"{case}/{prec}"
        module = getattr(nn, m["class"])(**m["kwargs"]).eval()
        if prec == "f64":
            module.double()
        state = {k[len(pre) + 7 :]: v for k, v in tensors.items() if k.startswith(pre + "/param/")}
        module.load_state_dict(state)
        leaves = {
            n: tensors[f"{pre}/in/{n}"].clone().requires_grad_()
            for n in ("x", "h0", "c0")
            if f"{pre}/in/{n}" in tensors
        }
        x, h0, c0 = leaves["x"], leaves.get("h0"), leaves.get("c0")
        lstm, cell = m["class"].startswith("LSTM"), m["call"]["cell"]
        hx = None if h0 is None else ((h0, c0) if lstm else h0)
        r = module(x, hx)
        if cell:
            outs = list(r) if lstm else [r]
        else:
            outs = [r[0]] + (list(r[1]) if lstm else [r[1]])
        total = sum((o * tensors[f"{pre}/gout/{k}"]).sum() for k, o in enumerate(outs))
        total.backward()
        got = {f"out/{k}": o for k, o in enumerate(outs)}
        got.update({f"grad/{n}": t.grad for n, t in leaves.items()})
        got.update({f"grad/{n}": p.grad for n, p in module.named_parameters()})
        for key, want in (
            (k[len(pre) + 1 :], v)
            for k, v in tensors.items()
            if k.startswith(pre + "/out/") or k.startswith(pre + "/grad/")
        ):
            a, e = got[key].detach().numpy(), want.numpy()
            assert a.dtype == e.dtype and a.shape == e.shape, (pre, key)
            tol = m["tol32"][key] if prec == "f32" else 1e-10 * max(1.0, float(np.abs(e).max()))
            assert np.abs(a - e).max() <= tol, (pre, key, np.abs(a - e).max(), tol)


def test_structure_like_torch():
    torch.manual_seed(0)
    m = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
    assert repr(m) == "LSTM(28, 64, batch_first=True)"
    assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert tuple(m.weight_ih_l0.shape) == (256, 28)
    assert all(float(p.abs().max()) <= 1 / 8 for p in m.parameters())
    out, (h, c) = m(torch.randn(4, 28, 28))
    assert tuple(out.shape) == (4, 28, 64) and tuple(h.shape) == (1, 4, 64) and tuple(c.shape) == (1, 4, 64)
    # the last output of a unidirectional network is h_n
    assert np.array_equal(out[:, -1, :].detach().numpy(), h[0].detach().numpy())

    g = nn.GRU(3, 5, 2, bidirectional=True)
    assert "bias_hh_l1_reverse" in dict(g.named_parameters())
    o, hn = g(torch.randn(7, 3))  # unbatched
    assert tuple(o.shape) == (7, 10) and tuple(hn.shape) == (4, 5)
    r = nn.RNN(3, 4, 2, "relu", bias=False)
    assert r.nonlinearity == "relu" and len(list(r.parameters())) == 4
    o, hn = r(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    assert float(o.min()) >= 0
    h1, c1 = nn.LSTMCell(3, 4)(torch.randn(2, 3))
    assert tuple(h1.shape) == (2, 4) and tuple(c1.shape) == (2, 4)
    assert tuple(nn.GRUCell(3, 4)(torch.randn(3)).shape) == (4,)
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    d = nn.GRU(2, 3, dtype=torch.float64)
    assert d(torch.randn(4, 1, 2, dtype=torch.float64))[0].dtype == torch.float64


def test_same_seed_same_module_as_swift_order():
    # Init draws follow parameters() order from the global generator: same seed, same weights.
    torch.manual_seed(5)
    a = nn.LSTM(3, 4, 2)
    torch.manual_seed(5)
    b = nn.LSTM(3, 4, 2)
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_dropout_between_layers_in_training_only():
    torch.manual_seed(1)
    m = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    m.eval()
    e = m(x)[0].detach().numpy()
    m.train()
    torch.manual_seed(2)
    t1 = m(x)[0].detach().numpy()
    torch.manual_seed(2)
    t2 = m(x)[0].detach().numpy()
    assert np.array_equal(t1, t2) and not np.array_equal(t1, e)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        nn.GRU(2, 3, dropout=0.2)
    assert any("num_layers greater than 1" in str(x.message) for x in w)


def test_errors_like_torch():
    m = nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        m(torch.randn(2, 2, 5))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        m(torch.randn(0, 2, 3))
    with pytest.raises(RuntimeError, match="Expected input to be 2D or 3D"):
        m(torch.randn(2, 2, 2, 3))
    with pytest.raises(RuntimeError, match="should also be 2-D"):
        m(torch.randn(2, 3), (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))
    with pytest.raises(RuntimeError, match="Expected hx\\[0\\] size"):
        m(torch.randn(2, 2, 3), (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
    with pytest.raises(RuntimeError, match="LSTM expects hx to be a tuple"):
        m(torch.randn(2, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match="two hidden states"):
        nn.LSTMCell(3, 4)(torch.randn(2, 3), (torch.zeros(2, 4),))
    with pytest.raises(TypeError):
        m(torch.randn(2, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(3, 4, dropout=2.0)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.RNN(3, 0)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
