"""torch.* functions that mirror Tensor methods (torch.relu(x), torch.sum(x, 1), ...)."""

import builtins

from ._tensor import Tensor, _op, _write_out

# torch.<name>(input, ...) for these is Tensor.<name> (made by _method below).
_METHODS = [
    "sin",
    "cos",
    "log1p",
    "expm1",
    "floor",
    "ceil",
    "round",
    "trunc",
    "sign",
    "isnan",
    "isinf",
    "isfinite",
    "clamp_min",
    "clamp_max",
    "sort",
    "argsort",
    "topk",
    "amax",
    "amin",
    "var",
    "std",
    "norm",
    "logsumexp",
    "gather",
    "cumsum",
    "scatter",
    "scatter_add",
]

__all__ = [
    "add",
    "sub",
    "subtract",
    "mul",
    "multiply",
    "div",
    "divide",
    "pow",
    "neg",
    "negative",
    "exp",
    "log",
    "abs",
    "sqrt",
    "rsqrt",
    "square",
    "relu",
    "sigmoid",
    "tanh",
    "clamp",
    "clip",
    "sum",
    "mean",
    "max",
    "min",
    "argmax",
    "argmin",
    "softmax",
    "log_softmax",
    "matmul",
    "mm",
    "bmm",
    "mv",
    "dot",
    "outer",
    "ger",
    "addmm",
    "baddbmm",
    "reshape",
    "flatten",
    "squeeze",
    "unsqueeze",
    "transpose",
    "permute",
    "t",
    "index_select",
    "narrow",
    "select",
    "split",
    "chunk",
    "unbind",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "equal",
    "allclose",
    "isclose",
    "detach",
    "clone",
    "masked_fill",
    "swapaxes",
    "erf_gelu",
    "floor_divide",
    "remainder",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "any",
    "all",
    "nonzero",
    "argwhere",
    "masked_select",
] + _METHODS


def _t(x):
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a dfm.Tensor, got {type(x).__name__}")
    return x


def add(input, other, alpha=1):
    return _t(input) + (other * alpha if alpha != 1 else other)


def sub(input, other, alpha=1):
    return _t(input) - (other * alpha if alpha != 1 else other)


subtract = sub


def mul(input, other):
    return input * other if isinstance(input, Tensor) else _t(other) * input


multiply = mul


def div(input, other):
    return _t(input) / other if isinstance(input, Tensor) else _t(other).__rtruediv__(input)


divide = div


def pow(input, exponent):
    return _t(input) ** exponent if isinstance(input, Tensor) else _t(exponent).__rpow__(input)


def neg(input):
    return -_t(input)


negative = neg


def exp(input):
    return _t(input).exp()


def log(input):
    return _t(input).log()


def abs(input):
    return _t(input).abs()


def sqrt(input):
    return _t(input).sqrt()


def rsqrt(input):
    return _t(input).rsqrt()


def square(input):
    return _t(input).square()


def relu(input):
    return _t(input).relu()


def sigmoid(input):
    return _t(input).sigmoid()


def tanh(input):
    return _t(input).tanh()


def erf_gelu(input):
    return _op("dfm_gelu", _t(input)._h)


def clamp(input, min=None, max=None):
    return _t(input).clamp(min, max)


clip = clamp


def sum(input, dim=None, keepdim=False, dtype=None):
    return _t(input).sum(dim, keepdim, dtype=dtype)


def mean(input, dim=None, keepdim=False, dtype=None):
    return _t(input).mean(dim, keepdim, dtype=dtype)


def max(input, dim=None, keepdim=False):
    return _t(input).max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    return _t(input).min(dim, keepdim)


def argmax(input, dim=None, keepdim=False):
    return _t(input).argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _t(input).argmin(dim, keepdim)


def softmax(input, dim, dtype=None):
    return _t(input).softmax(dim)


def log_softmax(input, dim, dtype=None):
    return _t(input).log_softmax(dim)


def matmul(input, other):
    return _t(input) @ other


def mm(input, mat2):
    return _t(input).mm(mat2)


def bmm(input, mat2):
    return _t(input).bmm(mat2)


def mv(input, vec):
    return _t(input).mv(vec)


def dot(input, tensor):
    return _t(input).dot(tensor)


def outer(input, vec2):
    return _t(input).outer(vec2)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    return _t(input).addmm(mat1, mat2, beta=beta, alpha=alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _t(input).baddbmm(batch1, batch2, beta=beta, alpha=alpha)


def reshape(input, shape):
    return _t(input).reshape(shape)


def flatten(input, start_dim=0, end_dim=-1):
    return _t(input).flatten(start_dim, end_dim)


def squeeze(input, dim=None):
    return _t(input).squeeze(dim)


def unsqueeze(input, dim):
    return _t(input).unsqueeze(dim)


def transpose(input, dim0, dim1):
    return _t(input).transpose(dim0, dim1)


swapaxes = transpose


def permute(input, dims):
    return _t(input).permute(dims)


def t(input):
    return _t(input).t()


def index_select(input, dim, index):
    return _t(input).index_select(dim, index)


def narrow(input, dim, start, length):
    return _t(input).narrow(dim, start, length)


def select(input, dim, index):
    return _t(input).select(dim, index)


def split(tensor, split_size_or_sections, dim=0):
    return _t(tensor).split(split_size_or_sections, dim)


def chunk(input, chunks, dim=0):
    return _t(input).chunk(chunks, dim)


def unbind(input, dim=0):
    return _t(input).unbind(dim)


def eq(input, other):
    return _t(input) == other


def ne(input, other):
    return _t(input) != other


def lt(input, other):
    return _t(input) < other


def le(input, other):
    return _t(input) <= other


def gt(input, other):
    return _t(input) > other


def ge(input, other):
    return _t(input) >= other


def equal(input, other):
    return _t(input).equal(other)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a = _t(input).detach().float()
    b = other.detach().float() if isinstance(other, Tensor) else other
    tol = b.abs() * rtol + atol if isinstance(b, Tensor) else builtins.abs(b) * rtol + atol
    return (a - b).abs() <= tol


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol).min().item() == 1.0)


def detach(input):
    return _t(input).detach()


def clone(input):
    return _t(input).clone()


def masked_fill(input, mask, value):
    return _t(input).masked_fill(mask, value)


def floor_divide(input, other):
    return _t(input) // other if isinstance(input, Tensor) else _t(other).__rfloordiv__(input)


def remainder(input, other):
    return _t(input) % other if isinstance(input, Tensor) else _t(other).__rmod__(input)


def logical_and(input, other):
    return _t(input).logical_and(other)


def logical_or(input, other):
    return _t(input).logical_or(other)


def logical_xor(input, other):
    return _t(input).logical_xor(other)


def logical_not(input):
    return _t(input).logical_not()


def any(input, dim=None, keepdim=False):
    return _t(input).any(dim, keepdim)


def all(input, dim=None, keepdim=False):
    return _t(input).all(dim, keepdim)


def nonzero(input, as_tuple=False):
    return _t(input).nonzero(as_tuple=as_tuple)


argwhere = nonzero


def masked_select(input, mask):
    return _t(input).masked_select(mask)


def _method(name):
    def fn(input, *args, **kwargs):
        return getattr(_t(input), name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"torch.{name}(input, ...): Tensor.{name}."
    return fn


for _name in _METHODS:
    globals()[_name] = _method(_name)
del _name


# ---- out= ------------------------------------------------------------------------------
# Every torch function here accepts out= (keyword): the result is written into it with
# torch's rules (_write_out). Functions returning Python values take no out.


def _with_out(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        y = fn(*args, **kwargs)
        return y if out is None else _write_out(y, out)

    return wrapper


for _name in __all__:
    if _name not in ("equal", "allclose", "detach", "split", "chunk", "unbind"):
        globals()[_name] = _with_out(globals()[_name])
del _name
