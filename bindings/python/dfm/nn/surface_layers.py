"""nn.Conv1d, the padding layers (Reflection/Replication/Zero/Constant/CircularPad), nn.PixelShuffle,
nn.PixelUnshuffle and nn.AlphaDropout: thin modules over the core's ops (dfm_conv1d, dfm_pad, ...)."""

from . import functional as F
from . import init
from .layers import Dropout, _conv_parameters
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _one(v, name):
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {v}")
        return (int(v[0]),)
    return (int(v),)


def _check_padding_mode(padding_mode, padding):
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got padding_mode='{padding_mode}'")
    if isinstance(padding, str) and padding not in ("same", "valid"):
        raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")


def reversed_padding(padding, kernel_size, dilation):
    """torch's _reversed_padding_repeated_twice: F.pad's list for a conv's padding."""
    if padding == "valid":
        return [0, 0] * len(kernel_size)
    if padding == "same":
        out = []
        for k, d in zip(reversed(kernel_size), reversed(dilation)):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return out
    out = []
    for p in reversed(padding):
        out += [p, p]
    return out


class Conv1d(Module):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        _check_padding_mode(padding_mode, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _one(kernel_size, "kernel_size")
        self.stride = _one(stride, "stride")
        self.padding = padding if isinstance(padding, str) else _one(padding, "padding")
        self.dilation = _one(dilation, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        _conv_parameters(self, (out_channels, in_channels // groups, *self.kernel_size), out_channels, bias)
        if dtype is not None:
            self.to(dtype)

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def forward(self, input):
        if self.padding_mode != "zeros":
            x = F.pad(input, reversed_padding(self.padding, self.kernel_size, self.dilation), mode=self.padding_mode)
            return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _PadNd(Module):
    mode = "constant"
    dims = 1

    def __init__(self, padding, value=0.0):
        super().__init__()
        if isinstance(padding, (list, tuple)):
            if len(padding) != 2 * self.dims:
                raise ValueError(
                    f"{type(self).__name__}: padding must be an int or a {2 * self.dims}-tuple, got {padding}"
                )
            self.padding = tuple(int(p) for p in padding)
        else:
            self.padding = (int(padding),) * (2 * self.dims)
        self.value = value

    def forward(self, input):
        return F.pad(input, list(self.padding), self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}" if self.mode == "constant" else f"{self.padding}"


def _pad_class(name, mode, dims, has_value=False, zero=False):
    def __init__(self, padding, *args):
        value = 0.0 if zero else (args[0] if args else None)
        if has_value and not args:
            raise TypeError(f"{name}.__init__() missing 1 required positional argument: 'value'")
        _PadNd.__init__(self, padding, value)

    return type(name, (_PadNd,), {"mode": mode, "dims": dims, "__init__": __init__, "__qualname__": name})


ReflectionPad1d = _pad_class("ReflectionPad1d", "reflect", 1)
ReflectionPad2d = _pad_class("ReflectionPad2d", "reflect", 2)
ReflectionPad3d = _pad_class("ReflectionPad3d", "reflect", 3)
ReplicationPad1d = _pad_class("ReplicationPad1d", "replicate", 1)
ReplicationPad2d = _pad_class("ReplicationPad2d", "replicate", 2)
ReplicationPad3d = _pad_class("ReplicationPad3d", "replicate", 3)
CircularPad1d = _pad_class("CircularPad1d", "circular", 1)
CircularPad2d = _pad_class("CircularPad2d", "circular", 2)
CircularPad3d = _pad_class("CircularPad3d", "circular", 3)
ZeroPad1d = _pad_class("ZeroPad1d", "constant", 1, zero=True)
ZeroPad2d = _pad_class("ZeroPad2d", "constant", 2, zero=True)
ZeroPad3d = _pad_class("ZeroPad3d", "constant", 3, zero=True)
ConstantPad1d = _pad_class("ConstantPad1d", "constant", 1, has_value=True)
ConstantPad2d = _pad_class("ConstantPad2d", "constant", 2, has_value=True)
ConstantPad3d = _pad_class("ConstantPad3d", "constant", 3, has_value=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class AlphaDropout(Dropout):
    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training)
