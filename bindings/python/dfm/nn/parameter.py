"""nn.Parameter: a Tensor that a Module registers as a parameter."""

from .._tensor import Tensor, _op, _wrap, zeros


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and is registered by Module.__setattr__.

    Wraps a new reference to the SAME dfm tensor as `data` (no copy), as torch does.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = zeros(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a dfm.Tensor, got {type(data).__name__}")
        if not data.is_leaf:
            data = data.detach()
        src = _op("dfm_tensor_detach", data._h) if not data.is_leaf else data
        # share the tensor itself (same storage and grad slot): one more reference to its handle
        t = object.__new__(cls)
        t._h = _retain(src)
        if requires_grad and not t.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point dtype can require gradients")
        t.requires_grad_(bool(requires_grad))
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        t = Parameter(_op("dfm_tensor_clone", self._h), self.requires_grad)
        memo[id(self)] = t
        return t


def _retain(t):
    from .._lib import C, check

    check(C.dfm_tensor_retain(t._h))
    return t._h


class Buffer(Tensor):
    def __new__(cls, data, persistent=True):
        t = object.__new__(cls)
        t._h = _retain(data)
        t.persistent = persistent
        return t

    def __init__(self, data, persistent=True):
        pass


__all__ = ["Parameter", "Buffer", "_wrap"]


from .. import _tensor as _T  # noqa: E402

_T._Parameter[0] = Parameter  # Tensor._binary's fast path knows the subclass
