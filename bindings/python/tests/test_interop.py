"""numpy interop, zero-copy lifetimes, serialization, grad mode per thread, devices."""

import gc
import json
import os
import pickle
import struct
import threading

import dfm
import numpy as np
import pytest
from dfm import _tensor


def test_numpy_is_a_view():
    t = dfm.zeros(2, 3)
    a = t.numpy()
    a[0, 1] = 5
    assert t[0, 1].item() == 5
    del t
    gc.collect()
    assert a[0, 1] == 5  # the array keeps the tensor alive


def test_from_numpy_shares_and_outlives_the_array():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = dfm.from_numpy(a)
    a[1, 2] = 42
    assert t[1, 2].item() == 42
    view = t.reshape(3, 2)  # shares the numpy buffer too
    n = len(_tensor._blobs)
    del a, t
    gc.collect()
    assert view.tolist() == [[0, 1], [2, 3], [4, 42]]
    del view
    gc.collect()
    assert len(_tensor._blobs) == n - 1  # dfm released the buffer: the array is no longer pinned


def test_from_numpy_copies_what_cannot_be_shared():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    t = dfm.from_numpy(a)
    assert t.tolist() == a.tolist()
    with pytest.raises(TypeError, match="float32, float64, int64, uint8 and bool"):
        dfm.from_numpy(np.zeros(3, dtype=np.float16))
    d = np.arange(12, dtype=np.float64).reshape(3, 4)
    td = dfm.from_numpy(d)  # float64 is shared, like torch
    assert td.dtype is dfm.float64 and np.shares_memory(td.numpy(), d)


def test_bool_arrays_share_memory_and_collate():
    a = np.array([[True, False], [False, True]])
    t = dfm.from_numpy(a)
    assert t.dtype is dfm.bool and t.data_ptr() == a.ctypes.data  # zero-copy, like torch
    a[0, 1] = True
    assert t.tolist() == [[True, True], [False, True]]
    assert t.numpy().dtype == np.bool_ and np.shares_memory(t.numpy(), a)
    assert (t.sum().item(), t.sum().dtype) == (3, dfm.int64)
    loader = dfm.utils.data.DataLoader([(np.float32(i), i % 2 == 0) for i in range(4)], batch_size=4)
    x, flags = next(iter(loader))
    assert flags.dtype is dfm.bool and flags.tolist() == [True, False, True, False]
    assert x[flags].tolist() == [0.0, 2.0]


def test_bool_tensors_save_and_load(tmp_path):
    m = dfm.arange(6).reshape(2, 3) % 2 == 0
    dfm.save_file({"mask": m}, str(tmp_path / "m.safetensors"))
    back = dfm.load_file(str(tmp_path / "m.safetensors"))["mask"]
    assert back.dtype is dfm.bool and back.tolist() == m.tolist()
    dfm.save({"mask": m}, str(tmp_path / "m.pt"))
    assert dfm.load(str(tmp_path / "m.pt"))["mask"].tolist() == m.tolist()


def test_array_protocol_and_tensor_from_numpy_types():
    t = dfm.arange(4)
    assert np.asarray(t).dtype == np.int64
    assert np.array(dfm.ones(2), dtype=np.float64).dtype == np.float64
    assert dfm.tensor(np.float64(2.5)).dtype is dfm.float64  # numpy keeps its dtype, as in torch
    assert dfm.tensor(2.5).dtype is dfm.float32 and dfm.tensor([1.0, 2.0]).dtype is dfm.float32
    assert dfm.tensor(np.array([1, 2], dtype=np.int32)).dtype is dfm.int64
    assert isinstance(np.ones(3, dtype=np.float32) + dfm.ones(3), dfm.Tensor)  # Tensor's reflected op wins


def test_requires_grad_tensor_numpy_via_detach():
    x = dfm.ones(2, requires_grad=True)
    assert x.detach().numpy().tolist() == [1, 1]


def test_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CPU only"):
        dfm.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        dfm.ones(2).cuda()
    with pytest.raises(RuntimeError, match="CPU only"):
        dfm.zeros(2, device="cuda:0")
    assert dfm.ones(2).to(device="cpu").device == "cpu"
    assert not dfm.cuda.is_available()


def test_float64_tensors_and_default_dtype():
    x = dfm.ones(2).double()
    assert x.dtype is dfm.float64 and x.numpy().dtype == np.float64
    assert (x * 0.1).tolist() == [0.1, 0.1]  # the scalar is a double all the way (ABI 3)
    assert (dfm.ones(2) * 0.1).dtype is dfm.float32
    assert (x + dfm.ones(2)).dtype is dfm.float64  # float32 promotes to float64, as in torch
    assert (dfm.arange(3) + x[:1]).dtype is dfm.float64
    assert repr(dfm.tensor([1.5], dtype=dfm.float64)) == "tensor([1.5000], dtype=dfm.float64)"
    assert dfm.tensor([1.0], dtype=float).dtype is dfm.float64  # torch: dtype=float is float64
    with pytest.raises(TypeError, match="float16"):
        dfm.zeros(2, dtype=dfm.float16)
    assert dfm.get_default_dtype() is dfm.float32
    dfm.set_default_dtype(dfm.float64)
    try:
        assert dfm.tensor([1.0]).dtype is dfm.float64 and dfm.zeros(2).dtype is dfm.float64
        assert dfm.randn(3).dtype is dfm.float64 and dfm.arange(0.0, 1.0, 0.5).dtype is dfm.float64
        assert dfm.arange(3).dtype is dfm.int64 and (dfm.arange(3) / 2).dtype is dfm.float64
        assert repr(dfm.tensor([1.5])) == "tensor([1.5000])"
    finally:
        dfm.set_default_dtype(dfm.float32)
    with pytest.raises(TypeError, match="floating-point"):
        dfm.set_default_dtype(dfm.int64)


def test_module_double_trains_in_float64():
    dfm.manual_seed(0)
    m = dfm.nn.Sequential(dfm.nn.Linear(3, 4), dfm.nn.ReLU(), dfm.nn.Linear(4, 2))
    opt = dfm.optim.SGD(m.parameters(), lr=0.1)
    m.double()
    assert all(p.dtype is dfm.float64 for p in m.parameters())
    x = dfm.randn(5, 3, dtype=dfm.float64)
    loss = dfm.nn.functional.cross_entropy(m(x), dfm.tensor([0, 1, 0, 1, 1]))
    assert loss.dtype is dfm.float64
    loss.backward()
    w0 = m[0].weight.detach().clone()
    opt.step()  # the optimizer made before .double() updates the converted parameters
    assert m[0].weight.grad.dtype is dfm.float64 and bool((w0 != m[0].weight.detach()).any())
    with pytest.raises(TypeError, match="same dtype"):
        m(dfm.randn(5, 3))  # a float32 input to a float64 model is refused, not silently converted
    m.float()
    assert m[2].bias.dtype is dfm.float32


def test_no_grad_is_per_thread():
    seen = {}

    def worker():
        seen["enabled"] = dfm.is_grad_enabled()

    with dfm.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert not dfm.is_grad_enabled()
    assert seen["enabled"] and dfm.is_grad_enabled()


def test_no_grad_restores_after_exception():
    with pytest.raises(ZeroDivisionError):
        with dfm.no_grad():
            1 / 0
    assert dfm.is_grad_enabled()


def test_manual_seed_reproduces():
    dfm.manual_seed(3)
    a = dfm.randn(5)
    dfm.manual_seed(3)
    b = dfm.randn(5)
    assert a.tolist() == b.tolist()
    r = dfm.randint(0, 4, (100,))
    assert r.dtype is dfm.int64 and 0 <= r.min().item() and r.max().item() < 4


def test_num_threads():
    n = dfm.get_num_threads()
    dfm.set_num_threads(1)
    assert dfm.get_num_threads() == 1
    dfm.set_num_threads(n)
    with pytest.raises(ValueError):
        dfm.set_num_threads(0)


def test_save_load_roundtrip(tmp_path):
    m = dfm.nn.Linear(3, 2)
    obj = {"model": m.state_dict(), "epoch": 3, "p": dfm.nn.Parameter(dfm.ones(2))}
    path = tmp_path / "ckpt.pt"
    dfm.save(obj, path)
    back = dfm.load(path)
    assert back["epoch"] == 3
    assert back["model"]["weight"].tolist() == m.weight.detach().tolist()
    assert isinstance(back["p"], dfm.nn.Parameter) and back["p"].requires_grad
    m2 = dfm.nn.Linear(3, 2)
    m2.load_state_dict(back["model"])
    assert m2.bias.tolist() == m.bias.tolist()


def test_load_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump(os.getcwd, f)  # any callable outside the allow-list
    with pytest.raises(RuntimeError, match="weights_only"):
        dfm.load(path)
    with open(tmp_path / "junk.pt", "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(RuntimeError, match="not a valid dfm checkpoint"):
        dfm.load(tmp_path / "junk.pt")


def test_safetensors_files(tmp_path):
    path = str(tmp_path / "t.safetensors")
    dfm.save_file({"a": dfm.arange(6.0).reshape(2, 3), "b": dfm.arange(3)}, path, metadata={"format": "pt"})
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    assert header["a"]["dtype"] == "F32" and header["a"]["shape"] == [2, 3]
    assert header["b"]["dtype"] == "I64" and header["__metadata__"] == {"format": "pt"}
    back = dfm.load_file(path)
    assert back["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["b"].dtype is dfm.int64
    with pytest.raises(FileNotFoundError):
        dfm.load_file(str(tmp_path / "missing.safetensors"))
    with open(path, "r+b") as f:
        f.truncate(20)
    with pytest.raises(OSError):
        dfm.load_file(path)


def test_parameter_shares_the_tensor():
    t = dfm.zeros(3)
    p = dfm.nn.Parameter(t)
    with dfm.no_grad():
        p.fill_(2)
    assert t.tolist() == [2, 2, 2]
    assert p.requires_grad and "Parameter containing" in repr(p)


def test_handles_are_released():
    gc.collect()
    before = dfm.live_handle_count()
    for _ in range(50):
        x = dfm.randn(4, 4, requires_grad=True)
        y = (x @ x).relu().sum()
        y.backward()
        _ = x.grad, repr(y)
    del x, y, _
    gc.collect()
    assert dfm.live_handle_count() == before


def test_int64_arithmetic_is_exact_beyond_float_precision():
    big = 2**40 + 1  # not representable in float32
    x = dfm.tensor([big, -big])
    assert (x + 1).tolist() == [big + 1, -big + 1]
    assert (x - big).tolist() == [0, -2 * big]
    assert (x * 3).tolist() == [3 * big, -3 * big]
    assert (5 - x).tolist() == [5 - big, 5 + big]
    assert (x + dfm.tensor([1, 1])).sum().item() == 2
    assert (x + 1).dtype is dfm.int64 and (x + 0.5).dtype is dfm.float32


def test_long_of_nan_or_inf_is_a_clear_error():
    # torch leaves these undefined; dfm refuses and names the value.
    for v, word in ((float("nan"), "nan"), (float("inf"), "inf"), (1e30, "range")):
        with pytest.raises(ValueError, match=word):
            dfm.tensor([1.0, v]).long()
    assert dfm.tensor([-2.5, 2.5]).long().tolist() == [-2, 2]


def test_index_select_errors():
    x = dfm.arange(6.0).reshape(2, 3)
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(1, dfm.tensor([3]))
    with pytest.raises(IndexError, match="out of range"):
        dfm.index_select(x, 1, dfm.tensor([-1]))  # index_select, unlike x[idx], takes no negatives
    with pytest.raises(TypeError, match="int64"):
        x.index_select(0, dfm.tensor([0.0]))
    with pytest.raises(IndexError, match="dimension out of range"):
        x.index_select(2, dfm.tensor([0]))
    with pytest.raises(TypeError, match="must be Tensor"):
        x.index_select(0, [0])


def test_matrix_product_family_matches_numpy():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    ta, tb = dfm.from_numpy(a), dfm.from_numpy(b)  # float64
    assert np.allclose(ta.mm(tb).numpy(), a @ b, rtol=1e-13)
    assert np.allclose(dfm.mv(ta, tb[:, 0]).numpy(), a @ b[:, 0], rtol=1e-13)
    assert abs(dfm.dot(ta[0], ta[1]).item() - a[0] @ a[1]) < 1e-12
    assert np.allclose(dfm.outer(ta[0], tb[0]).numpy(), np.outer(a[0], b[0]))
    c = rng.standard_normal((3, 5))
    assert np.allclose(
        dfm.addmm(dfm.from_numpy(c), ta, tb, beta=0.5, alpha=2).numpy(), 0.5 * c + 2 * (a @ b), rtol=1e-13
    )
    x = dfm.ones(2, 3, 4).double()
    assert dfm.baddbmm(dfm.zeros(2, 3, 5).double(), x, dfm.ones(2, 4, 5).double()).sum().item() == 2 * 3 * 5 * 4
    with pytest.raises(RuntimeError, match="mat2 must be a 2D tensor"):
        ta.mm(tb[0])
    w = dfm.randn(4, 1)
    assert dfm.randn(6, 4).mm(w).shape == (6, 1)  # the regression example's x.mm(W_target)
    assert dfm.ones(2).new_zeros(3).tolist() == [0, 0, 0] and dfm.ones(2).double().new_ones(1).dtype is dfm.float64


def test_uint8_tensors_and_mnist_data(tmp_path):
    a = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    t = dfm.from_numpy(a)
    assert t.dtype is dfm.uint8 and np.shares_memory(t.numpy(), a)
    assert dfm.tensor(a).dtype is dfm.uint8 and dfm.tensor([1, 2]).dtype is dfm.int64
    assert (t + t).dtype is dfm.uint8 and (t + t).tolist() == [[0, 200], [144, 254]]  # wraps, as torch
    assert (t + 1).dtype is dfm.uint8 and (t + dfm.tensor([1])).dtype is dfm.int64
    assert (t.float() / 255).dtype is dfm.float32 and t.float().max().item() == 255.0
    assert (t > 150).tolist() == [[False, False], [True, True]]
    assert t.sum().dtype is dfm.int64 and t.sum().item() == 555
    assert dfm.tensor([300, -1]).byte().tolist() == [44, 255]
    assert t.unsqueeze(1).clone().shape == (2, 1, 2) and t[1].tolist() == [200, 255]
    ds = dfm.vision.datasets.FashionMNIST("/usr/share/datasets/fashion-mnist", train=False)
    assert ds.data.dtype is dfm.uint8 and ds.data.shape == (10000, 28, 28) and ds.targets.dtype is dfm.int64
    img = ds.data.unsqueeze(1)[5].clone().float()  # the siamese example's access pattern
    assert img.shape == (1, 28, 28) and img.dtype is dfm.float32
    x, y = ds[5]
    assert np.array_equal(x, ds.data[5].numpy()) and y == ds.targets[5].item()
    dfm.vision.utils.save_image(dfm.rand(4, 1, 28, 28), tmp_path / "grid.png", nrow=2)
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    grid = dfm.vision.utils.make_grid(dfm.ones(3, 1, 4, 4), nrow=2, padding=1, pad_value=0.5)
    assert grid.shape == (3, 11, 11) and grid[0, 0, 0].item() == 0.5 and grid[0, 1, 1].item() == 1.0


def test_randint_overloads_like_torch():
    dfm.manual_seed(0)
    for t in (
        dfm.randint(5, (3,)),
        dfm.randint(5, size=(3,)),
        dfm.randint(0, 5, (3,)),
        dfm.randint(low=0, high=5, size=(3,)),
    ):
        assert t.dtype is dfm.int64 and t.shape == (3,) and 0 <= t.min().item() and t.max().item() < 5
    with pytest.raises(TypeError, match="missing required"):
        dfm.randint(5)


def test_dropout2d_drops_whole_channels():
    dfm.manual_seed(3)
    x = dfm.ones(4, 8, 3, 3)
    y = dfm.nn.Dropout2d(0.5)(x)
    per_map = y.reshape(32, 9)
    for row in per_map.tolist():
        assert len(set(row)) == 1 and row[0] in (0.0, 2.0)
    assert 0 < (per_map[:, 0] == 0).sum().item() < 32
    m = dfm.nn.Dropout2d(0.5)
    m.eval()
    assert m(x).tolist() == x.tolist()
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        z = dfm.nn.functional.dropout2d(dfm.ones(5, 6), 0.5)  # torch treats it as one unbatched (C=5, L=6) map
    assert all(len(set(r)) == 1 for r in z.tolist())


def test_scatter_and_gather_take_a_0dim_index_like_torch():
    one_hot = dfm.zeros(5).scatter_(0, dfm.tensor(3), 1.0)  # the usual one-hot label transform
    assert one_hot.tolist() == [0, 0, 0, 1, 0]
    x = dfm.arange(5.0, requires_grad=True)
    y = x.gather(0, dfm.tensor(2))
    assert y.shape == () and y.item() == 2.0
    y.backward()
    assert x.grad.tolist() == [0, 0, 1, 0, 0]
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        dfm.zeros(2, 3).scatter_(0, dfm.tensor(1), 1.0)
