"""A model defined in Python trains (autograd by the core), on synthetic data and on a
small FashionMNIST subset through datasets/transforms/DataLoader."""

import os

import dfm
import dfm.nn as nn
import numpy as np
import pytest
from _models import SmallNet


def test_python_module_learns_a_separable_task():
    dfm.manual_seed(0)
    x = dfm.randn(64, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long() if dfm._lib.has("dfm_to_dtype") else None
    if y is None:
        ynp = (np.asarray(x).mean(axis=(1, 2, 3)) > 0).astype(np.int64)  # labels only, not training arithmetic
        y = dfm.from_numpy(ynp)
    model = SmallNet(classes=2)
    opt = dfm.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


ROOT = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(ROOT), reason="needs the Debian fashion-mnist package")
def test_fashion_mnist_pipeline():
    from dfm import datasets, transforms

    ds = datasets.FashionMNIST(
        train=True, transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    )
    assert len(ds) == 60000
    img, label = ds[0]
    assert tuple(img.shape) == (1, 28, 28) and isinstance(label, int)
    raw = datasets.FashionMNIST(train=False)
    assert raw[0][0].dtype == np.uint8 and raw[0][0].shape == (28, 28) and len(raw) == 10000
    loader = dfm.utils.data.DataLoader(dfm.utils.data.Subset(ds, range(100)), batch_size=32, drop_last=True)
    batches = list(loader)
    assert len(batches) == 3
    x, y = batches[0]
    assert tuple(x.shape) == (32, 1, 28, 28) and y.dtype is dfm.int64


def test_missing_dataset_says_where_to_put_files(tmp_path):
    from dfm import datasets

    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte.gz"):
        datasets.MNIST(str(tmp_path), train=True)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(RuntimeError, match="truncated"):
        datasets.MNIST(str(tmp_path), train=True)
