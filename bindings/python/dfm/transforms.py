"""torchvision.transforms subset: ToTensor, Normalize, Compose (arithmetic in the core)."""

import numpy as np

from ._tensor import Tensor, from_numpy, tensor


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        return "Compose(\n" + "".join(f"    {t}\n" for t in self.transforms) + ")"


class ToTensor:
    """HxW or HxWxC uint8 image (numpy array or PIL image) -> CxHxW float32 in [0, 1] (x / 255 in the core)."""

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("pic should be PIL Image or ndarray. Got <class 'dfm.Tensor'>")
        a = np.asarray(pic)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"pic should be 2 or 3 dimensional. Got {a.ndim} dimensions.")
        chw = np.ascontiguousarray(a.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            return from_numpy(chw).float() / 255.0  # uint8 -> float32 and the division in the core
        if chw.dtype.kind == "f":
            return from_numpy(np.ascontiguousarray(chw, dtype=np.float32))
        return tensor(chw)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = list(np.atleast_1d(mean)), list(np.atleast_1d(std))
        if any(s == 0 for s in self.std):
            raise ValueError("std evaluated to zero after conversion to float32, leading to division by zero.")

    def __call__(self, t):
        if not isinstance(t, Tensor):
            raise TypeError(f"Input tensor should be a dfm tensor. Got {type(t)}.")
        if t.dim() < 3:
            raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got {tuple(t.shape)}.")
        c = t.shape[-3]
        mean = self.mean * c if len(self.mean) == 1 else self.mean
        std = self.std * c if len(self.std) == 1 else self.std
        if len(mean) != c:
            raise ValueError(f"Normalize: {len(mean)} means for {c} channels")
        m = tensor(np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1))
        s = tensor(np.asarray(std, dtype=np.float32).reshape(-1, 1, 1))
        return (t - m) / s

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    def __init__(self, lambd):
        self.lambd = lambd

    def __call__(self, x):
        return self.lambd(x)
