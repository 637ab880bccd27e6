"""torch.nn.init over the core's initialisers (global generator, in place, no autograd)."""

import math

from .._lib import C, check
from .._tensor import no_grad


def calculate_gain(nonlinearity, param=None):
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    dims = tensor.dim()
    if dims < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    shape = tensor.shape
    receptive = math.prod(shape[2:]) if dims > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _run(name, t, *args):
    with no_grad():
        check(getattr(C, name)(t._h, *args))
    return t


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _run("dfm_init_uniform_", tensor, float(a), float(b))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _run("dfm_init_normal_", tensor, float(mean), float(std))


def constant_(tensor, val):
    return _run("dfm_init_constant_", tensor, float(val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _run("dfm_init_kaiming_uniform_", tensor, float(a), mode.encode(), nonlinearity.encode())


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _run("dfm_init_kaiming_normal_", tensor, float(a), mode.encode(), nonlinearity.encode())


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    return _run("dfm_init_trunc_normal_", tensor, float(mean), float(std), float(a), float(b))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    return _run("dfm_init_xavier_uniform_", tensor, float(gain))


def xavier_normal_(tensor, gain=1.0, generator=None):
    return _run("dfm_init_xavier_normal_", tensor, float(gain))


def orthogonal_(tensor, gain=1, generator=None):
    return _run("dfm_init_orthogonal_", tensor, float(gain))


def default_init_(weight, bias=None):
    """torch's reset_parameters for Linear/Conv (the core's torchDefaultInit, same draws)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
