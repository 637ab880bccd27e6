"""torchvision.utils.make_grid and save_image: tiling with core ops (cat, clamp, arithmetic)
and pixel copies, PNG encoding in the core (dfm_save_png)."""

import math
import os

from .._lib import C, check
from .._tensor import Tensor, cat, full, stack


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0, **kwargs):
    """A (3, H', W') grid of the images in `tensor` ((B, C, H, W), a list of (C, H, W), or one image)."""
    if "range" in kwargs:  # torchvision's old name
        value_range = kwargs.pop("range")
    if kwargs:
        raise TypeError(f"make_grid() got unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(tensor, (list, tuple)):
        tensor = stack(list(tensor), dim=0)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor).__name__}")
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:
        if tensor.size(0) == 1:
            tensor = cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4:
        raise ValueError(f"make_grid expects a 2-D, 3-D or 4-D tensor, got shape {tuple(tensor.shape)}")
    if tensor.size(1) == 1:
        tensor = cat((tensor, tensor, tensor), 1)
    tensor = tensor.detach()
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm(img, lo, hi):
            return (img.clamp(min=lo, max=hi) - lo) / max(hi - lo, 1e-5)

        def norm_range(t):
            if value_range is not None:
                return norm(t, float(value_range[0]), float(value_range[1]))
            return norm(t, float(t.min()), float(t.max()))

        tensor = stack([norm_range(t) for t in tensor], 0) if scale_each else norm_range(tensor)
    if tensor.size(0) == 1:
        return tensor.squeeze(0)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    channels = tensor.size(1)
    grid = full((channels, height * ymaps + padding, width * xmaps + padding), float(pad_value), dtype=tensor.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding : (y + 1) * height, x * width + padding : (x + 1) * width] = tensor[k]
            k += 1
    return grid


def save_image(tensor, fp, format=None, **kwargs):
    """Writes make_grid(tensor, **kwargs) as a PNG (values in [0, 1], as torchvision)."""
    if format is not None and str(format).lower() != "png":
        raise ValueError(f"dfm writes PNG images only, got format={format!r}")
    if not isinstance(fp, (str, bytes, os.PathLike)):
        raise TypeError(f"dfm: save_image takes a file path, got {type(fp).__name__}")
    grid = make_grid(tensor, **kwargs)
    check(C.dfm_save_png(grid._h, os.fsencode(os.fspath(fp))))
