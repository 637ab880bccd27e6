"""Segmentation data and metrics, computed by the core.

`SegmentationScenes`: 2–4 Fashion-MNIST garments pasted on a 64×64 canvas; each garment
pixel is labelled with its class + 1, background 0 (11 labels). Scene i depends only on
(seed, i); train scenes come from the train split, test scenes from t10k.
`confusion_matrix`, `iou_per_class`, `dice_per_class`, `mean_iou`: `prediction` is int64
labels shaped like `target` or float scores (N, C, ...) (argmax over dim 1); pixels whose
target is `ignore_index` are skipped; a class absent from both scores NaN and is left out
of the mean.
"""

import ctypes
import os

from ._lib import C, Handle, check, i64_array
from ._tensor import _op, _wrap
from .utils.data import Dataset

FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"


class SegmentationScenes(Dataset):
    def __init__(
        self,
        root=FASHION_MNIST_ROOT,
        train=True,
        count=1000,
        seed=0,
        canvas=64,
        min_objects=2,
        max_objects=4,
        threshold=0.2,
    ):
        src = Handle()
        check(C.dfm_dataset_idx_open_root(os.fspath(root).encode(), bool(train), ctypes.byref(src)))
        out = Handle()
        try:
            check(
                C.dfm_dataset_segmentation_scenes(
                    src,
                    int(count),
                    int(seed),
                    int(canvas),
                    int(min_objects),
                    int(max_objects),
                    float(threshold),
                    10,
                    ctypes.byref(out),
                )
            )
        finally:
            C.dfm_dataset_release(src)  # the scenes keep their source alive
        self._h = out.value
        self.num_classes = 11
        self._len = int(count)

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            try:
                C.dfm_dataset_release(h)
            except Exception:  # interpreter shutting down
                pass

    def __len__(self):
        return self._len

    def batch(self, indices):
        """(images (B, 1, H, W) float32 in [0, 1], labels (B, H, W) int64) for `indices`."""
        arr, n = i64_array(int(i) for i in indices)
        images, labels = Handle(), Handle()
        check(C.dfm_dataset_batch(self._h, arr, n, ctypes.byref(images), ctypes.byref(labels)))
        return _wrap(images.value), _wrap(labels.value)

    def __getitem__(self, i):
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} is out of range for {self._len} scenes")
        x, y = self.batch([i % self._len])
        return x[0], y[0]


def confusion_matrix(prediction, target, num_classes, ignore_index=-100):
    return _op("dfm_confusion_matrix", prediction, target, int(num_classes), int(ignore_index))


def iou_per_class(prediction, target, num_classes, ignore_index=-100):
    return _op("dfm_iou_per_class", prediction, target, int(num_classes), int(ignore_index))


def dice_per_class(prediction, target, num_classes, ignore_index=-100):
    return _op("dfm_dice_per_class", prediction, target, int(num_classes), int(ignore_index))


def mean_iou(prediction, target, num_classes, ignore_index=-100):
    out = ctypes.c_float()
    check(C.dfm_mean_iou(prediction._h, target._h, int(num_classes), int(ignore_index), ctypes.byref(out)))
    return float(out.value)
