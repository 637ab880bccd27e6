"""torch.flip, fliplr, flipud, roll, triu, tril, diag, prod and einsum, as Tensor methods and
torch functions: each is one libdfm call (dfm_flip, ...), arguments converted here."""

import operator

from ._lib import handle_array, i64_array
from ._tensor import Tensor, _op

__all__ = ["flip", "fliplr", "flipud", "roll", "triu", "tril", "diag", "prod", "einsum"]


def _t(x, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument 'input' must be a dfm.Tensor, not {type(x).__name__}")
    return x


def _int(v, what):
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(v).__name__}") from None


def _int_list(v, what):
    seq = v if isinstance(v, (list, tuple)) else [v]
    return [_int(x, what) for x in seq]


def flip(input, dims, *more):
    dims = _int_list(dims, "flip(): dims") + [_int(d, "flip(): dims") for d in more]
    arr, n = i64_array(dims, "dims")
    return _op("dfm_flip", _t(input, "flip")._h, arr, n)


def fliplr(input):
    x = _t(input, "fliplr")
    if x.dim() < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(x, [1])


def flipud(input):
    x = _t(input, "flipud")
    if x.dim() < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(x, [0])


def roll(input, shifts, dims=None):
    s = _int_list(shifts, "roll(): shifts")
    d = [] if dims is None else _int_list(dims, "roll(): dims")
    sa, ns = i64_array(s, "shifts")
    da, nd = i64_array(d, "dims")
    return _op("dfm_roll", _t(input, "roll")._h, sa, ns, da, nd)


def triu(input, diagonal=0, *, out=None):
    return _out(_op("dfm_triu", _t(input, "triu")._h, _int(diagonal, "triu(): diagonal")), out)


def tril(input, diagonal=0, *, out=None):
    return _out(_op("dfm_tril", _t(input, "tril")._h, _int(diagonal, "tril(): diagonal")), out)


def diag(input, diagonal=0, *, out=None):
    return _out(_op("dfm_diag", _t(input, "diag")._h, _int(diagonal, "diag(): diagonal")), out)


def prod(input, dim=None, keepdim=False, *, dtype=None, out=None):
    x = _t(input, "prod")
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:
        y = _op("dfm_prod", x._h)
    else:
        y = _op("dfm_prod_dim", x._h, _int(dim, "prod(): dim"), bool(keepdim))
    return _out(y, out)


def einsum(equation, *operands, out=None):
    """torch.einsum(equation, *operands) or torch.einsum(equation, [operands])."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): argument 'equation' must be str, not {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): operand {k} must be a dfm.Tensor, not {type(t).__name__}")
    arr, n = handle_array([t._h for t in operands])
    return _out(_op("dfm_einsum", equation.encode(), arr, n), out)


def _out(y, out):
    if out is None:
        return y
    from ._tensor import _write_out

    return _write_out(y, out)


def _install():
    """The Tensor methods."""
    Tensor.flip = lambda self, *dims: flip(self, *dims) if dims else flip(self, [])
    Tensor.fliplr = fliplr
    Tensor.flipud = flipud
    Tensor.roll = lambda self, shifts, dims=None: roll(self, shifts, dims)
    Tensor.triu = lambda self, diagonal=0: triu(self, diagonal)
    Tensor.tril = lambda self, diagonal=0: tril(self, diagonal)
    Tensor.diag = lambda self, diagonal=0: diag(self, diagonal)
    Tensor.prod = lambda self, dim=None, keepdim=False, dtype=None: prod(self, dim, keepdim, dtype=dtype)

    def triu_(self, diagonal=0):
        return self.copy_(triu(self, diagonal))

    def tril_(self, diagonal=0):
        return self.copy_(tril(self, diagonal))

    Tensor.triu_ = triu_
    Tensor.tril_ = tril_


_install()
