"""Segmentation scenes, metrics and DFM-DeepLabV3+ through the Python binding."""

import dfm
import dfm.nn.functional as F
import numpy as np
import pytest
from dfm.datasets import SegmentationScenes
from dfm.models import DeepLabV3Plus


def test_scenes_are_deterministic_and_labelled():
    a = SegmentationScenes(train=False, count=4, seed=3)
    b = SegmentationScenes(train=False, count=4, seed=3)
    xa, ya = a.batch([0, 3])
    xb, yb = b.batch([0, 3])
    assert xa.shape == (2, 1, 64, 64) and ya.shape == (2, 64, 64) and ya.dtype == dfm.int64
    assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())
    labels = ya.numpy()
    assert labels.min() == 0 and 1 <= labels.max() <= 10
    # Labelled pixels are bright garment pixels; background is where nothing was pasted.
    assert (xa.numpy()[:, 0][labels > 0] > 0.2).all()
    x0, y0 = a[1]
    assert x0.shape == (1, 64, 64) and y0.shape == (64, 64)
    with pytest.raises(IndexError):
        a[4]


def test_metrics_match_numpy():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, size=(2, 8, 8))
    pred = np.where(rng.random((2, 8, 8)) < 0.7, target, rng.integers(0, 4, size=(2, 8, 8)))
    t, p = dfm.from_numpy(target.astype(np.int64)), dfm.from_numpy(pred.astype(np.int64))
    cm = dfm.metrics.confusion_matrix(p, t, 4).numpy()
    expected = np.zeros((4, 4), dtype=np.int64)
    np.add.at(expected, (target.ravel(), pred.ravel()), 1)
    assert np.array_equal(cm, expected)
    tp = np.diag(expected)
    iou = tp / (expected.sum(0) + expected.sum(1) - tp)
    np.testing.assert_allclose(dfm.metrics.iou_per_class(p, t, 4).numpy(), iou, rtol=1e-6)
    assert dfm.metrics.mean_iou(p, t, 4) == pytest.approx(iou.mean(), rel=1e-6)
    with pytest.raises(IndexError):
        dfm.metrics.mean_iou(p, dfm.from_numpy(np.full((2, 8, 8), 9, dtype=np.int64)), 4)


def test_deeplab_trains_on_scenes():
    dfm.manual_seed(0)
    scenes = SegmentationScenes(train=True, count=8, seed=0)
    model = DeepLabV3Plus(in_filters=1, fb_filters=2, class_filters=16, classes=scenes.num_classes, shape=(64, 64))
    opt = dfm.optim.Adam(model.parameters(), lr=3e-3)
    x, y = scenes.batch(range(8))
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(model(x, T=2), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model.steps_run == 2
    assert losses[-1] < 0.7 * losses[0], losses
    with pytest.raises(RuntimeError, match="divisible by 16"):
        model(dfm.zeros(2, 1, 60, 64), T=1)


def test_checkpoint_steps_gives_the_same_gradients():
    grads = []
    for ck in (False, True):
        dfm.manual_seed(4)
        model = DeepLabV3Plus(in_filters=1, fb_filters=2, class_filters=8, classes=3, shape=(32, 32))
        model.checkpoint_steps = ck
        assert model.checkpoint_steps == ck
        x, y = dfm.rand(2, 1, 32, 32), dfm.randint(0, 3, (2, 32, 32))
        F.cross_entropy(model(x, T=2), y).backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 10
    for a, b in zip(*grads):
        assert np.array_equal(a, b)
