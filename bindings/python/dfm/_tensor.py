"""dfm.Tensor: a Python object owning one reference to a dfm_tensor handle.

Every computation is a call into libdfm (the core does all arithmetic and autograd);
this file only converts arguments, owns handles and formats output.
"""

import builtins
import ctypes
import itertools
import math
import threading

import numpy as np

from . import _lib
from ._lib import C, Handle, check, i64_array

# --------------------------------------------------------------------------------
# dtypes and devices
# --------------------------------------------------------------------------------


class dtype:
    __slots__ = ("name", "code", "np", "is_floating_point", "itemsize")

    def __init__(self, name, code, npdtype, is_float):
        self.name, self.code, self.np, self.is_floating_point = name, code, np.dtype(npdtype), is_float
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return "dfm." + self.name

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


float32 = dtype("float32", _lib.ENUMS["dfm_dtype"]["DFM_FLOAT32"], np.float32, True)
float64 = dtype("float64", _lib.ENUMS["dfm_dtype"]["DFM_FLOAT64"], np.float64, True)
int64 = dtype("int64", _lib.ENUMS["dfm_dtype"]["DFM_INT64"], np.int64, False)
uint8 = dtype("uint8", _lib.ENUMS["dfm_dtype"]["DFM_UINT8"], np.uint8, False)
bool_ = dtype("bool", _lib.ENUMS["dfm_dtype"]["DFM_BOOL"], np.bool_, False)  # exported as dfm.bool
_BY_CODE = {float32.code: float32, float64.code: float64, int64.code: int64, uint8.code: uint8, bool_.code: bool_}
_UNSUPPORTED = {
    "float16",
    "half",
    "bfloat16",
    "int32",
    "int",
    "int16",
    "short",
    "int8",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
}


def _dtype_by_name(name):
    return {"float32": float32, "float64": float64, "int64": int64, "uint8": uint8, "bool": bool_}[name]


# torch.set_default_dtype: the dtype of tensors made from Python floats (float32 unless set).
_default_float = [float32]


def get_default_dtype():
    return _default_float[0]


def set_default_dtype(d):
    dt = to_dtype(d)
    if dt is None or not dt.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d!r}")
    _default_float[0] = dt


class _UnsupportedDtype:
    """torch.float64 & co. exist as names so scripts import, but using them raises."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "dfm." + self.name


def to_dtype(d):
    """Normalises a dtype argument (dfm dtype, numpy dtype, Python type, string)."""
    if d is None or isinstance(d, dtype):
        return d
    if isinstance(d, _UnsupportedDtype):
        name = d.name
    elif d is builtins.float:
        return float64  # torch: dtype=float is torch.float64
    elif d is builtins.int:
        return int64
    elif d is builtins.bool:
        return bool_
    else:
        try:
            nd = np.dtype(d)
        except TypeError:
            raise TypeError(f"dfm: {d!r} is not a dtype") from None
        if nd == np.float32:
            return float32
        if nd == np.float64:
            return float64
        if nd == np.int64:
            return int64
        if nd == np.uint8:
            return uint8
        if nd == np.bool_:
            return bool_
        name = str(nd)
    raise TypeError(
        f"dfm supports float32, float64, int64, uint8 and bool tensors; dtype {name} is not available "
        "(use dfm.float32 or dfm.float64 for real numbers, dfm.int64 (long) for integers and labels, "
        "dfm.bool for masks)"
    )


class device:
    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        s = str(type)
        if ":" in s:
            s, idx = s.split(":", 1)
            index = int(idx)
        if s != "cpu":
            raise RuntimeError(f"dfm runs on the CPU only: device '{type}' is not available (use device='cpu')")
        self.type, self.index = s, index

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        try:
            return device(other).type == self.type
        except (RuntimeError, ValueError, TypeError):
            return False

    def __hash__(self):
        return hash(self.type)


_CPU = device("cpu")


class Size(tuple):
    def __repr__(self):
        return f"dfm.Size([{', '.join(str(d) for d in self)}])"

    def numel(self):
        return math.prod(self)


# --------------------------------------------------------------------------------
# grad mode (per thread in the core)
# --------------------------------------------------------------------------------


def is_grad_enabled():
    return bool(C.dfm_is_grad_enabled())


class _GradModeContext:
    """Base of no_grad / enable_grad / set_grad_enabled: context manager and decorator."""

    _mode = True

    def __enter__(self):
        st = getattr(_lib._tls, "grad_stack", None)
        if st is None:
            st = _lib._tls.grad_stack = []
        st.append(is_grad_enabled())
        C.dfm_set_grad_enabled(self._mode)
        return None

    def __exit__(self, *exc):
        C.dfm_set_grad_enabled(_lib._tls.grad_stack.pop())
        return False

    def __call__(self, func):
        import functools

        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            ctx = _GradModeContext()
            ctx._mode = mode
            with ctx:
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    _mode = False


class enable_grad(_GradModeContext):
    _mode = True


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode):
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        C.dfm_set_grad_enabled(self._mode)  # also works as a plain function call, as in torch

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        C.dfm_set_grad_enabled(self._prev)
        return False


class inference_mode(no_grad):
    def __init__(self, mode=True):
        self._mode = not mode


# --------------------------------------------------------------------------------
# zero-copy numpy buffers: the core calls _release_blob when it drops the memory
# --------------------------------------------------------------------------------

_blobs = {}
_blob_lock = threading.Lock()
_blob_ids = itertools.count(1)


def _release_blob(data, user_data):
    try:
        with _blob_lock:
            _blobs.pop(user_data, None)
    except Exception:  # interpreter shutting down: nothing left to keep alive
        pass


_RELEASE_CB = _lib.RELEASE_FN(_release_blob)


# --------------------------------------------------------------------------------
# the Tensor
# --------------------------------------------------------------------------------

_new_out = Handle


def _wrap(h, cls=None):
    t = object.__new__(cls or Tensor)
    t._h = h
    return t


_byref = ctypes.byref
_new = object.__new__
_error_for = _lib.error_for


def _op(name, *args):
    """Calls dfm_<name>(args..., &out) and wraps the new reference. Tensor arguments are
    passed as their handles; `args` keeps them (and any temporaries) alive during the call.
    The hot path of every op: no Python call beyond the C function when the status is OK."""
    out = Handle()
    st = getattr(C, name)(*[a._h if isinstance(a, Tensor) else a for a in args], _byref(out))
    if st:
        raise _error_for(st)
    t = _new(Tensor)
    t._h = out.value
    return t


# Tensor.dtype is cached on the Python object. A core tensor's dtype changes only through
# Tensor._convert_ (module.to/double), which bumps this epoch and so invalidates every cache
# (conversions are rare: model setup). Shapes never change for a handle and are cached for good.
_dtype_epoch = 0


def _h(x):
    return x._h if x is not None else None


_BINARY = {n: f"dfm_{n}" for n in ("add", "sub", "mul", "div", "pow", "floor_divide", "remainder")}
_BINARY_SCALAR = {n: f"dfm_{n}_scalar" for n in _BINARY}
_Parameter = [None]  # nn.Parameter, filled in when dfm.nn is imported (a Tensor subclass)


_KIND = {"bool": 0, "uint8": 1, "int64": 1, "float32": 2, "float64": 2}


def _write_out(y, out):
    """torch's out= contract: the result goes into `out` (converted to out's dtype, which may
    not be a lower kind: float into int64 is refused), and `out` is returned. A different
    shape resizes `out` (a warning when it held elements, as torch) by taking over the
    result's handle; the same shape copies in place, so views of `out` see the values."""
    if isinstance(y, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(y):
            raise TypeError(f"out= must be a tuple of {len(y)} Tensors for this function")
        return (
            type(y)(*[_write_out(a, b) for a, b in zip(y, out)])
            if hasattr(y, "_fields")
            else tuple(_write_out(a, b) for a, b in zip(y, out))
        )
    if not isinstance(out, Tensor):
        raise TypeError(f"argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (y.requires_grad or out.requires_grad):
        raise RuntimeError(
            "functions with out=... arguments don't support automatic differentiation, "
            "but one of the arguments requires grad."
        )
    if _KIND[y.dtype.name] > _KIND[out.dtype.name]:
        raise RuntimeError(
            f"result type {y.dtype.name.capitalize()} can't be cast to the desired output type "
            f"{out.dtype.name.capitalize()}"
        )
    if tuple(y.shape) == tuple(out.shape):
        check(C.dfm_tensor_copy_(out._h, y._h))
        return out
    if out.numel() != 0:
        import warnings

        warnings.warn(
            f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
            f"which does not match the required output shape {list(y.shape)}. This behavior is "
            f"deprecated, and in a future PyTorch release outputs will not be resized unless they have "
            f"zero elements. You can explicitly reuse an out tensor t by resizing it, inplace, to zero "
            f"elements with t.resize_(0).",
            UserWarning,
            stacklevel=3,
        )
    y = y.to(out.dtype) if y.dtype is not out.dtype else y.clone()
    out._h, y._h = y._h, out._h  # y now owns (and releases) out's old handle
    out.__dict__.pop("_shape", None)
    out.__dict__.pop("_dtc", None)
    return out


def _as_scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return v
    return None


def _as_tensor_like(v, like=None):
    """Converts an operand (number, list, array) to a Tensor for a binary op."""
    if isinstance(v, Tensor):
        return v
    s = _as_scalar(v)
    if s is not None:
        if like is not None and like.dtype is int64 and isinstance(s, (int, np.integer)):
            return full((), int(s), dtype=int64)
        return full(
            (), float(s), dtype=like.dtype if like is not None and like.dtype.is_floating_point else get_default_dtype()
        )
    return tensor(v)


def _dims_arg(dim):
    if dim is None:
        return []
    if isinstance(dim, (list, tuple)):
        return [int(d) for d in dim]
    return [int(dim)]


def _shape_args(args):
    """f(2, 3) / f((2, 3)) / f([2, 3]) / f(Size) -> [2, 3]."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = a.item()
        if isinstance(a, (bool, float)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"dfm: sizes must be integers, got {type(a).__name__} ({a!r})")
        out.append(int(a))
    return out


class _ReturnType(tuple):
    """torch.return_types.max / min: a (values, indices) tuple with names and torch's repr."""

    __slots__ = ()
    _name = "max"

    def __new__(cls, values, indices):
        return tuple.__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return f"dfm.return_types.{self._name}(\nvalues={self[0]!r},\nindices={self[1]!r})"


_Max, _Min, _Sort, _Topk = (
    type(n, (_ReturnType,), {"__slots__": (), "_name": n}) for n in ("max", "min", "sort", "topk")
)


class Tensor:
    """A dense, contiguous float32, int64 or bool tensor living in libdfm."""

    __array_priority__ = 1000  # numpy scalars/arrays defer to Tensor's reflected operators

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "dfm.Tensor cannot be constructed directly; use dfm.tensor(data), dfm.zeros(...) or dfm.from_numpy(array)"
        )

    def __del__(self):
        h = self.__dict__.get("_h")
        if h:
            self._h = None
            try:
                C.dfm_tensor_release(h)
            except Exception:  # library already unloaded at interpreter exit
                pass

    # ---- properties -------------------------------------------------------------
    @property
    def shape(self):
        s = self.__dict__.get("_shape")
        if s is None:
            n = ctypes.c_int64()
            check(C.dfm_tensor_ndim(self._h, ctypes.byref(n)))
            dims = (ctypes.c_int64 * max(n.value, 1))()
            check(C.dfm_tensor_shape(self._h, dims, n.value))
            s = self._shape = Size(dims[: n.value])
        return s

    def size(self, dim=None):
        s = self.shape
        if dim is None:
            return s
        d = int(dim)
        if not -len(s) <= d < len(s) or len(s) == 0:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-max(len(s), 1)}, "
                f"{max(len(s), 1) - 1}], but got {d})"
            )
        return s[d]

    def dim(self):
        return len(self.shape)

    ndim = property(dim)
    ndimension = dim

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    nelement = numel

    @property
    def dtype(self):
        c = self.__dict__.get("_dtc")
        if c is not None and c[0] == _dtype_epoch:
            return c[1]
        d = ctypes.c_int32()
        check(C.dfm_tensor_dtype(self._h, ctypes.byref(d)))
        dt = _BY_CODE[d.value]
        self._dtc = (_dtype_epoch, dt)
        return dt

    @property
    def device(self):
        return _CPU

    is_cuda = False
    is_sparse = False
    is_quantized = False
    layout = "strided"

    def is_floating_point(self):
        return self.dtype is float32

    def element_size(self):
        return self.dtype.itemsize

    def is_contiguous(self, memory_format=None):
        return True

    def contiguous(self, memory_format=None):
        return self

    def stride(self, dim=None):
        n = self.dim()
        st = (ctypes.c_int64 * max(n, 1))()
        check(C.dfm_tensor_strides(self._h, st, n))
        item = self.dtype.itemsize
        s = tuple(st[i] // item for i in range(n))
        return s if dim is None else s[dim]

    def data_ptr(self):
        p = ctypes.c_void_p()
        check(C.dfm_tensor_data(self._h, ctypes.byref(p)))
        return p.value or 0

    # ---- autograd ---------------------------------------------------------------
    @property
    def requires_grad(self):
        b = ctypes.c_bool()
        check(C.dfm_tensor_requires_grad(self._h, ctypes.byref(b)))
        return b.value

    @requires_grad.setter
    def requires_grad(self, flag):
        check(C.dfm_tensor_set_requires_grad(self._h, bool(flag)))

    def _convert_(self, dt):
        """In place: this tensor (every handle to it) now holds dtype `dt` (module.double())."""
        global _dtype_epoch
        _dtype_epoch += 1  # every handle to this tensor (and its grad) changes dtype
        check(C.dfm_tensor_convert_(self._h, dt.code))
        return self

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        b = ctypes.c_bool()
        check(C.dfm_tensor_is_leaf(self._h, ctypes.byref(b)))
        return b.value

    @property
    def grad_fn(self):
        s = ctypes.c_char_p()
        check(C.dfm_tensor_grad_fn_name(self._h, ctypes.byref(s)))
        return None if not s.value else _grad_fn_class(s.value.decode())(self)

    @property
    def grad(self):
        out = Handle()
        check(C.dfm_tensor_grad(self._h, ctypes.byref(out)))
        return _wrap(out.value) if out.value else None

    @grad.setter
    def grad(self, g):
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(g).__name__}")
        check(C.dfm_tensor_set_grad(self._h, _h(g)))

    @grad.deleter
    def grad(self):
        check(C.dfm_tensor_set_grad(self._h, None))

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if create_graph:
            raise RuntimeError("dfm does not support create_graph=True (higher-order gradients)")
        if inputs is not None:
            raise RuntimeError("dfm: backward(inputs=...) is not supported")
        if gradient is not None and not isinstance(gradient, Tensor):
            gradient = tensor(gradient)
        check(C.dfm_backward(self._h, _h(gradient), bool(retain_graph)))

    def detach(self):
        return _op("dfm_tensor_detach", self._h)

    def detach_(self):
        raise RuntimeError("dfm: detach_() is not supported; use x = x.detach()")

    def clone(self, memory_format=None):
        # torch's clone is differentiable; dfm's copy is cut from the graph, so an
        # input that requires grad goes through an identity op the core records.
        if self.requires_grad and is_grad_enabled():
            return self * 1.0 if self.dtype is float32 else self.detach().clone()
        return _op("dfm_tensor_clone", self._h)

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, other):
        if not isinstance(other, Tensor):
            raise TypeError("data must be a Tensor")
        if tuple(other.shape) != tuple(self.shape):
            raise RuntimeError(
                f"dfm: .data assignment needs the same shape (got {tuple(other.shape)}, tensor has {tuple(self.shape)})"
            )
        check(C.dfm_tensor_copy_(self._h, other._h))

    # ---- conversion ---------------------------------------------------------------
    def _np_view(self):
        """A numpy array sharing this tensor's memory (keeps the tensor alive)."""
        shape = tuple(self.shape)
        dt = self.dtype
        if math.prod(shape) == 0:
            return np.empty(shape, dtype=dt.np)
        return np.asarray(_ArrayHolder(self, self.data_ptr(), shape, dt.np))

    def numpy(self, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._np_view()

    def __array__(self, dtype=None, copy=None):
        a = self.detach()._np_view()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        if copy:
            return a.copy()
        return a

    def item(self):
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        if self.dtype is not float32:  # exact (a double cannot hold every int64)
            return self._np_view().reshape(-1)[0].item()
        v = ctypes.c_double()
        check(C.dfm_tensor_item(self._h, ctypes.byref(v)))
        return v.value

    def tolist(self):
        return self.detach()._np_view().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype is not int64 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        n = self.numel()
        if n != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {'more than one value' if n else 'no values'} is ambiguous"
            )
        return bool(self.item())

    def __len__(self):
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    def __iter__(self):
        if self.dim() == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(len(self)):
            yield self[i]

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, proto):
        from ._serialization import _reduce_tensor

        return _reduce_tensor(self)

    def __deepcopy__(self, memo):
        t = _op("dfm_tensor_clone", self._h)
        if self.requires_grad:
            t.requires_grad_(True)
        memo[id(self)] = t
        return t

    # ---- device / dtype movement -------------------------------------------------
    def to(self, *args, **kwargs):
        dt = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dt = a.dtype
            elif isinstance(a, (dtype, _UnsupportedDtype)) or a in (builtins.float, builtins.int, builtins.bool):
                dt = a
            elif isinstance(a, (str, device)):
                dev = a
            elif isinstance(a, bool):
                pass  # non_blocking positional
            else:
                raise TypeError(f"to() received an invalid argument {a!r}")
        if dev is not None:
            device(dev)  # raises for anything but the CPU
        out = self
        if dt is not None:
            dt = to_dtype(dt)
            if dt is not self.dtype:
                out = _op("dfm_tensor_to_dtype", self._h, dt.code)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self, memory_format=None):
        return self

    def cuda(self, *a, **k):
        raise RuntimeError("dfm runs on the CPU only: CUDA is not available (use .cpu() or device='cpu')")

    def float(self):
        return self.to(float32)

    def long(self):
        return self.to(int64)

    def byte(self):
        return self.to(uint8)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(_UnsupportedDtype("float16"))

    def int(self):
        return self.to(_UnsupportedDtype("int32"))

    def bool(self):
        return self.to(bool_)

    def type(self, dtype=None):
        if dtype is None:
            return {
                "float32": "dfm.FloatTensor",
                "float64": "dfm.DoubleTensor",
                "int64": "dfm.LongTensor",
                "uint8": "dfm.ByteTensor",
                "bool": "dfm.BoolTensor",
            }[self.dtype.name]
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    # ---- elementwise arithmetic --------------------------------------------------
    def _binary(self, other, name):
        # Fast paths (most calls): two tensors of one dtype, or a float tensor and a Python float.
        t = type(other)
        if t is Tensor or t is _Parameter[0]:
            if other.dtype is self.dtype:
                return _op(_BINARY[name], self, other)
        elif t is float and self.dtype.is_floating_point:
            return _op(_BINARY_SCALAR[name], self, other)
        a = self
        s = _as_scalar(other)
        int_scalar = isinstance(s, (int, np.integer))
        if name == "pow" and a.dtype is int64 and int_scalar and s < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        # torch's type promotion: int64 with a float tensor computes in that tensor's dtype, with a
        # float scalar (or in true division) in the default float dtype
        if a.dtype is int64 and isinstance(other, Tensor) and other.dtype.is_floating_point:
            a = a.to(other.dtype)
        elif a.dtype is int64 and (name == "div" or (s is not None and not int_scalar)):
            a = a.to(get_default_dtype())
        if s is not None and not (a.dtype is int64 and int_scalar):
            return _op(f"dfm_{name}_scalar", a, float(s))
        o = _as_tensor_like(other, a)
        if o.dtype is not a.dtype and a.dtype.is_floating_point and not o.dtype.is_floating_point:
            o = o.to(a.dtype)
        return _op(f"dfm_{name}", a, o)

    def __add__(self, o):
        return self._binary(o, "add")

    def __radd__(self, o):
        return self._binary(o, "add") if _as_scalar(o) is not None else _as_tensor_like(o).__add__(self)

    def __sub__(self, o):
        return self._binary(o, "sub")

    def __rsub__(self, o):
        s = _as_scalar(o)
        a = (
            self.to(get_default_dtype())
            if self.dtype is int64 and s is not None and not isinstance(s, (int, np.integer))
            else self
        )
        if s is not None and not (a.dtype is int64 and isinstance(s, (int, np.integer))):
            return _op("dfm_rsub_scalar", float(s), a)
        return _as_tensor_like(o, a).__sub__(a)

    def __mul__(self, o):
        return self._binary(o, "mul")

    def __rmul__(self, o):
        return self._binary(o, "mul") if _as_scalar(o) is not None else _as_tensor_like(o).__mul__(self)

    def __truediv__(self, o):
        return self._binary(o, "div")

    def __rtruediv__(self, o):
        s = _as_scalar(o)
        a = self.to(get_default_dtype()) if self.dtype is int64 else self
        if s is not None:
            return _op("dfm_rdiv_scalar", float(s), a)
        return _as_tensor_like(o, a).__truediv__(a)

    def __pow__(self, o):
        return self._binary(o, "pow")

    def __floordiv__(self, o):
        return self._binary(o, "floor_divide")

    def __rfloordiv__(self, o):
        return _as_tensor_like(o, self).__floordiv__(self)

    def __mod__(self, o):
        return self._binary(o, "remainder")

    def __rmod__(self, o):
        return _as_tensor_like(o, self).__mod__(self)

    def __rpow__(self, o):
        return _as_tensor_like(o, self).__pow__(self)

    def __matmul__(self, o):
        return _op("dfm_matmul", self, _as_tensor_like(o))

    # torch's matrix-product family (core ops with torch's shape checks)
    def mm(self, mat2):
        return _op("dfm_mm", self, mat2)

    def mv(self, vec):
        return _op("dfm_mv", self, vec)

    def dot(self, other):
        return _op("dfm_dot", self, other)

    def outer(self, vec2):
        return _op("dfm_outer", self, vec2)

    ger = outer

    def bmm(self, mat2):
        return _op("dfm_bmm", self, mat2)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _op("dfm_addmm", self, mat1, mat2, float(beta), float(alpha))

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _op("dfm_baddbmm", self, batch1, batch2, float(beta), float(alpha))

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    new_empty = new_zeros

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def __rmatmul__(self, o):
        return _op("dfm_matmul", _as_tensor_like(o), self)

    def __neg__(self):
        return _op("dfm_neg", self._h)

    def __pos__(self):
        return self

    def __abs__(self):
        return _op("dfm_abs", self._h)

    add = __add__
    sub = __sub__
    subtract = __sub__
    mul = __mul__
    multiply = __mul__
    div = __truediv__
    divide = __truediv__
    pow = __pow__
    floor_divide = __floordiv__
    remainder = __mod__
    matmul = __matmul__
    neg = __neg__

    def rsub(self, other):
        return self.__rsub__(other)

    # ---- comparisons (bool results) -------------------------------------------------
    def _compare(self, other, name):
        if other is None:
            return NotImplemented
        s = _as_scalar(other)
        if s is not None and not (self.dtype is int64 and isinstance(s, (int, np.integer))):
            return _op(f"dfm_{name}_scalar", self._h, float(s))
        return _op(f"dfm_{name}", self, _as_tensor_like(other, self))

    def __eq__(self, o):
        return self._compare(o, "eq")

    def __ne__(self, o):
        return self._compare(o, "ne")

    def __lt__(self, o):
        return self._compare(o, "lt")

    def __le__(self, o):
        return self._compare(o, "le")

    def __gt__(self, o):
        return self._compare(o, "gt")

    def __ge__(self, o):
        return self._compare(o, "ge")

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    # ---- logical ops: & | ^ ~ on bool tensors (torch's bitwise ops on integers are not
    # supported); logical_* accept any dtype, nonzero meaning true ------------------
    def _logical(self, other, name, op):
        o = other
        if isinstance(o, (builtins.bool, np.bool_)):
            o = full((), builtins.bool(o), dtype=bool_)
        if not isinstance(o, Tensor):
            return NotImplemented
        for t in (self, o):
            if t.dtype is not bool_:
                raise NotImplementedError(
                    f"dfm: the {op} operator is implemented for bool tensors only, got {t.dtype} "
                    f"(use logical_{name}(), or compare first, e.g. (x > 0) {op} (y > 0))"
                )
        return _op(f"dfm_logical_{name}", self, o)

    def __and__(self, o):
        return self._logical(o, "and", "&")

    def __or__(self, o):
        return self._logical(o, "or", "|")

    def __xor__(self, o):
        return self._logical(o, "xor", "^")

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self):
        if self.dtype is not bool_:
            raise TypeError(f"dfm: ~ (operator.invert) is implemented for bool tensors only, got {self.dtype}")
        return _op("dfm_logical_not", self._h)

    def __iand__(self, o):
        return self._assign(self & o)

    def __ior__(self, o):
        return self._assign(self | o)

    def __ixor__(self, o):
        return self._assign(self ^ o)

    def logical_and(self, other):
        return _op("dfm_logical_and", self, _as_tensor_like(other, self))

    def logical_or(self, other):
        return _op("dfm_logical_or", self, _as_tensor_like(other, self))

    def logical_xor(self, other):
        return _op("dfm_logical_xor", self, _as_tensor_like(other, self))

    def logical_not(self):
        return _op("dfm_logical_not", self._h)

    def any(self, dim=None, keepdim=False):
        t = self if self.dtype is bool_ else self != 0
        return t.sum(dim, keepdim) > 0

    def all(self, dim=None, keepdim=False):
        return self.logical_not().sum(dim, keepdim) == 0

    def nonzero(self, as_tuple=False):
        idx = _op("dfm_nonzero", self._h)
        if as_tuple:
            return tuple(idx.select(1, d) for d in range(idx.shape[1])) if self.dim() else (idx.reshape(-1),)
        return idx

    argwhere = nonzero

    def masked_select(self, mask):
        return _op("dfm_masked_select", self, mask)

    def equal(self, other):
        return tuple(self.shape) == tuple(other.shape) and bool(np.array_equal(np.asarray(self), np.asarray(other)))

    # ---- in-place (outside autograd, like torch's .data updates) -----------------
    def _check_inplace(self):
        if self.requires_grad and is_grad_enabled():
            if self.is_leaf:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            raise RuntimeError(
                "dfm: in-place operations on tensors that are part of an autograd graph are not "
                "supported; use the out-of-place form"
            )

    def _assign(self, result):
        self._check_inplace()
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(result.shape)}"
            )
        with no_grad():
            check(C.dfm_tensor_copy_(self._h, result._h))
        return self

    def add_(self, o, alpha=1):
        return self._assign(self + (o * alpha if alpha != 1 else o))

    def sub_(self, o, alpha=1):
        return self._assign(self - (o * alpha if alpha != 1 else o))

    def mul_(self, o):
        return self._assign(self * o)

    def div_(self, o):
        return self._assign(self / o)

    def pow_(self, o):
        return self._assign(self**o)

    def clamp_(self, min=None, max=None):
        return self._assign(self.clamp(min, max))

    def neg_(self):
        return self._assign(-self)

    def abs_(self):
        return self._assign(abs(self))

    def exp_(self):
        return self._assign(self.exp())

    def sqrt_(self):
        return self._assign(self.sqrt())

    def relu_(self):
        return self._assign(self.relu())

    def floor_divide_(self, o):
        return self._assign(self // o)

    def remainder_(self, o):
        return self._assign(self % o)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_
    __ifloordiv__ = floor_divide_
    __imod__ = remainder_

    def fill_(self, value):
        self._check_inplace()
        check(C.dfm_tensor_fill_(self._h, float(value)))
        return self

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src, non_blocking=False):
        self._check_inplace()
        if not isinstance(src, Tensor):
            src = tensor(src)
        if tuple(src.shape) != tuple(self.shape):
            src = src.expand(*self.shape)
        check(C.dfm_tensor_copy_(self._h, src._h))
        return self

    def uniform_(self, a=0.0, b=1.0):
        self._check_inplace()
        check(C.dfm_init_uniform_(self._h, float(a), float(b)))
        return self

    def normal_(self, mean=0.0, std=1.0):
        self._check_inplace()
        check(C.dfm_init_normal_(self._h, float(mean), float(std)))
        return self

    # ---- math ---------------------------------------------------------------------
    def exp(self):
        return _op("dfm_exp", self._h)

    def log(self):
        return _op("dfm_log", self._h)

    def abs(self):
        return _op("dfm_abs", self._h)

    def sqrt(self):
        return _op("dfm_sqrt", self._h)

    def relu(self):
        return _op("dfm_relu", self._h)

    def sigmoid(self):
        return _op("dfm_sigmoid", self._h)

    def tanh(self):
        return _op("dfm_tanh", self._h)

    def sin(self):
        return _op("dfm_sin", self._h)

    def cos(self):
        return _op("dfm_cos", self._h)

    def log1p(self):
        return _op("dfm_log1p", self._h)

    def expm1(self):
        return _op("dfm_expm1", self._h)

    def floor(self):
        return _op("dfm_floor", self._h)

    def ceil(self):
        return _op("dfm_ceil", self._h)

    def round(self, decimals=0):
        if decimals:
            raise NotImplementedError("dfm: round(decimals=...) is not supported; use round() on scaled values")
        return _op("dfm_round", self._h)

    def trunc(self):
        return _op("dfm_trunc", self._h)

    fix = trunc

    def sign(self):
        return _op("dfm_sign", self._h)

    def isnan(self):
        return _op("dfm_isnan", self._h)

    def isinf(self):
        return _op("dfm_isinf", self._h)

    def isfinite(self):
        return _op("dfm_isfinite", self._h)

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def square(self):
        return self * self

    def rsqrt(self):
        return 1.0 / self.sqrt()

    def reciprocal(self):
        return 1.0 / self

    def clamp(self, min=None, max=None):
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            raise TypeError("dfm: clamp takes Python numbers for min and max")
        x = self
        if x.dtype is int64 and any(isinstance(b, (builtins.float, np.floating)) for b in (min, max)):
            x = x.to(get_default_dtype())  # torch: a float bound makes the result float
        return _op(
            "dfm_clamp",
            x._h,
            min is not None,
            float(min if min is not None else 0),
            max is not None,
            float(max if max is not None else 0),
        )

    clip = clamp

    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        dims, n = i64_array(_dims_arg(dim))
        return _op("dfm_sum", x._h, dims, n, bool(keepdim))

    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        dims, n = i64_array(_dims_arg(dim))
        return _op("dfm_mean", x._h, dims, n, bool(keepdim))

    def _extremum(self, name, dim, keepdim):
        if dim is None:
            return _op(f"dfm_{name}", self._h)
        if isinstance(dim, Tensor):  # torch.max(a, b): elementwise
            return maximum(self, dim) if name == "max" else minimum(self, dim)
        v, i = Handle(), Handle()
        check(getattr(C, f"dfm_{name}_dim")(self._h, int(dim), bool(keepdim), ctypes.byref(v), ctypes.byref(i)))
        return (_Max if name == "max" else _Min)(_wrap(v.value), _wrap(i.value))

    def max(self, dim=None, keepdim=False):
        return self._extremum("max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._extremum("min", dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _op("dfm_argmax", self._h, dim is not None, int(dim or 0), bool(keepdim))

    def argmin(self, dim=None, keepdim=False):
        return _op("dfm_argmin", self._h, dim is not None, int(dim or 0), bool(keepdim))

    # ---- sort, topk and reductions composed from core ops ------------------------
    def sort(self, dim=-1, descending=False, stable=False):
        v, i = Handle(), Handle()
        check(C.dfm_sort(self._h, int(dim), bool(descending), ctypes.byref(v), ctypes.byref(i)))
        return _Sort(_wrap(v.value), _wrap(i.value))  # always stable, which torch allows for stable=False

    def argsort(self, dim=-1, descending=False, stable=False):
        return self.sort(dim, descending).indices

    def topk(self, k, dim=-1, largest=True, sorted=True):
        v, i = Handle(), Handle()
        check(C.dfm_topk(self._h, int(k), int(dim), bool(largest), ctypes.byref(v), ctypes.byref(i)))
        return _Topk(_wrap(v.value), _wrap(i.value))

    def cumsum(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return _op("dfm_cumsum", x._h, int(dim))

    def _reduced_dims(self, dim):
        n = self.dim()
        if n == 0:
            return []  # a 0-dim tensor reduces over "all" of its zero dims
        dims = range(n) if dim is None or dim == () or dim == [] else _dims_arg(dim)
        return sorted({d % n for d in dims}, reverse=True)

    def _extreme_over(self, name, dim, keepdim):
        """amax/amin: max/min over each reduced dim in turn (a 0-dim tensor reduces over none)."""
        x, dims = self, self._reduced_dims(dim)
        for d in dims:
            x = x._extremum(name, d, True)[0]
        return x if keepdim or not dims else x.squeeze(dims)

    def amax(self, dim=(), keepdim=False):
        return self._extreme_over("max", dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        return self._extreme_over("min", dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        if isinstance(dim, builtins.bool):  # var(unbiased) legacy form
            dim, unbiased = None, dim
        c = correction if correction is not None else (0 if unbiased is False else 1)
        dims = self._reduced_dims(dim)
        count = math.prod(self.shape[d] for d in dims) if self.dim() else 1
        d = self - self.mean(dims, keepdim=True)
        return (d * d).sum(dims, keepdim=keepdim) / builtins.max(count - c, 0)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        dims = self._reduced_dims(dim)
        if p in ("fro", 2, 2.0):
            return (self * self).sum(dims, keepdim=keepdim).sqrt()
        if p in (1, 1.0):
            return self.abs().sum(dims, keepdim=keepdim)
        if p == math.inf:
            return self.abs().amax(dims, keepdim=keepdim)
        if p == -math.inf:
            return self.abs().amin(dims, keepdim=keepdim)
        if p == 0:
            return (self != 0).float().sum(dims, keepdim=keepdim)
        return (self.abs() ** p).sum(dims, keepdim=keepdim) ** (1.0 / p)

    def logsumexp(self, dim, keepdim=False):
        dims = self._reduced_dims(dim)
        if self.dim() and any(self.shape[d] == 0 for d in dims):  # an empty sum: log(0) = -inf
            return (self.sum(dims, keepdim=keepdim) * 0.0).log()
        m = self.detach().amax(dims, keepdim=True)
        m = where(m.isinf(), zeros_like(m), m)  # all -inf (or an inf) rows: shift by 0, as torch does
        out = (self - m).exp().sum(dims, keepdim=True).log() + m
        return out if keepdim else out.squeeze(dims)

    def softmax(self, dim):
        return _op("dfm_softmax", self._h, int(dim))

    def log_softmax(self, dim):
        return _op("dfm_log_softmax", self._h, int(dim))

    # ---- shape ---------------------------------------------------------------------
    def reshape(self, *shape):
        s, n = i64_array(_shape_args(shape))
        return _op("dfm_reshape", self._h, s, n)

    view = reshape

    def view_as(self, other):
        return self.reshape(*other.shape)

    reshape_as = view_as

    def expand(self, *sizes):
        s, n = i64_array(_shape_args(sizes))
        return _op("dfm_expand", self._h, s, n)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def permute(self, *dims):
        d, n = i64_array(_shape_args(dims))
        return _op("dfm_permute", self._h, d, n)

    def transpose(self, dim0, dim1):
        return _op("dfm_transpose", self._h, int(dim0), int(dim1))

    swapaxes = transpose

    def t(self):
        if self.dim() > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.dim()}D")
        return self if self.dim() < 2 else self.transpose(0, 1)

    @property
    def T(self):
        n = self.dim()
        return self.permute(*range(n - 1, -1, -1)) if n > 1 else self

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def flatten(self, start_dim=0, end_dim=-1):
        return _op("dfm_flatten", self._h, int(start_dim), int(end_dim))

    def squeeze(self, dim=None):
        if isinstance(dim, (tuple, list)):
            x = self
            for d in sorted((d % max(self.dim(), 1) for d in dim), reverse=True):
                x = x.squeeze(d)
            return x
        return _op("dfm_squeeze", self._h, dim is not None, int(dim or 0))

    def unsqueeze(self, dim):
        return _op("dfm_unsqueeze", self._h, int(dim))

    def narrow(self, dim, start, length):
        return _op("dfm_narrow", self._h, int(dim), int(start), int(length))

    def select(self, dim, index):
        return _op("dfm_select", self._h, int(dim), int(index))

    def split(self, split_size, dim=0):
        size = self.size(dim)
        if isinstance(split_size, int):
            if split_size <= 0:
                raise ValueError(f"split_size must be positive, got {split_size}")
            sizes = [min(split_size, size - s) for s in range(0, size, split_size)] or [0]
        else:
            sizes = list(split_size)
            if sum(sizes) != size:
                raise RuntimeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {size} "
                    f"(input tensor's size at dimension {dim}), but got split_sizes={sizes}"
                )
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return tuple(out)

    def chunk(self, chunks, dim=0):
        size = self.size(dim)
        return self.split(max(1, -(-size // chunks)), dim)

    def unbind(self, dim=0):
        return tuple(self.select(dim, i) for i in range(self.size(dim)))

    def repeat(self, *sizes):
        reps = _shape_args(sizes)
        x = self
        while x.dim() < len(reps):
            x = x.unsqueeze(0)
        for d, r in enumerate(reps):
            if r != 1:
                x = cat([x] * r, dim=d) if r > 0 else x.narrow(d, 0, 0)
        return x

    def masked_fill(self, mask, value):
        return where(mask, full((), float(value), dtype=self.dtype), self)

    def where(self, condition, other):
        return where(condition, self, other)

    # ---- indexing ------------------------------------------------------------------
    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = tuple(_as_mask(k) for k in key)
        # a bool mask consumes as many dimensions as it has
        n_real = builtins.sum(
            k.dim() if isinstance(k, Tensor) and k.dtype is bool_ else 1
            for k in key
            if k is not None and k is not Ellipsis
        )
        if builtins.sum(1 for k in key if k is Ellipsis) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        ndim = self.dim()
        if n_real > ndim:
            raise IndexError(f"too many indices for tensor of dimension {ndim}")
        x, d = self, 0
        for k in key:
            if k is Ellipsis:
                d += ndim - n_real
                ndim = n_real  # consumed
            elif k is None:
                x = x.unsqueeze(d)
                d += 1
            elif isinstance(k, (bool, np.bool_)):
                raise IndexError("dfm: boolean scalar indices are not supported")
            elif isinstance(k, (int, np.integer)) or (isinstance(k, Tensor) and k.dim() == 0 and k.dtype is int64):
                x = x.select(d, int(k))
            elif isinstance(k, Tensor) and k.dtype is bool_:
                x = _mask_index(x, d, k)
                d += 1
            elif isinstance(k, builtins.slice):
                if k.step is not None and int(k.step) <= 0:
                    raise ValueError("step must be greater than zero")
                # Python (and torch) clamp slice bounds beyond the index range: x[:2**64] is all of x
                x = _op(
                    "dfm_slice",
                    x._h,
                    d,
                    k.start is not None,
                    _clamp_i64(k.start or 0),
                    k.stop is not None,
                    _clamp_i64(k.stop or 0),
                    _clamp_i64(k.step or 1),
                )
                d += 1
            else:
                idx = k if isinstance(k, Tensor) else tensor(k)
                if idx.dtype is not int64:
                    raise IndexError("tensors used as indices must be long (int64) tensors")
                if idx.dim() != 1:
                    raise IndexError("dfm: only 1-D index tensors are supported")
                x = x.index_select(d, _wrap_negative_indices(idx, x.shape[d], d))
                d += 1
        return x

    def gather(self, dim, index):
        if not isinstance(index, Tensor):
            raise TypeError(f"gather(): argument 'index' must be Tensor, not {type(index).__name__}")
        return _op("dfm_gather", self, int(dim), index)

    def scatter(self, dim, index, src=None, value=None, reduce=None):
        if reduce is not None:
            raise NotImplementedError("dfm: scatter(reduce=...) is not supported; use scatter_add for sums")
        if src is None and value is None:
            raise TypeError("scatter() needs src or value")
        if not isinstance(src, Tensor):
            src = full(tuple(index.shape), value if src is None else src, dtype=self.dtype)
        return _op("dfm_scatter", self, int(dim), index, src)

    def scatter_add(self, dim, index, src):
        return _op("dfm_scatter_add", self, int(dim), index, src)

    def scatter_(self, dim, index, src=None, value=None, reduce=None):
        return self._assign(self.scatter(dim, index, src, value, reduce))

    def scatter_add_(self, dim, index, src):
        return self._assign(self.scatter_add(dim, index, src))

    def index_select(self, dim, index):
        if not isinstance(index, Tensor):
            raise TypeError(f"index_select(): argument 'index' must be Tensor, not {type(index).__name__}")
        return _op("dfm_index_select", self._h, int(dim), index._h)

    def __setitem__(self, key, value):
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
                if self.is_leaf
                else "dfm: item assignment into a tensor that is part of an autograd graph is not supported"
            )
        if isinstance(key, Tensor):
            key = key.numpy()
        elif isinstance(key, tuple):
            key = tuple(k.numpy() if isinstance(k, Tensor) else k for k in key)
        v = value.detach()._np_view() if isinstance(value, Tensor) else value
        view = self._np_view()
        view[key] = v  # a copy into the tensor's memory: no arithmetic

    # ---- repr ---------------------------------------------------------------------
    def __repr__(self):
        from ._format import format_tensor

        return format_tensor(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self.dim() == 0 and spec:
            return format(self.item(), spec)
        return repr(self)


def _clamp_i64(v):
    return builtins.min(builtins.max(int(v), _lib.I64_MIN), _lib.I64_MAX)


def _wrap_negative_indices(idx, size, dim):
    """x[idx] accepts negative entries (counted from the end) where index_select does not:
    checks the range as torch does and maps negatives to size + i."""
    a = idx.detach()._np_view()
    if a.size == 0:
        return idx
    lo, hi = int(a.min()), int(a.max())
    if lo < -size or hi >= size:
        raise IndexError(f"index {lo if lo < -size else hi} is out of bounds for dimension {dim} with size {size}")
    return tensor(np.where(a < 0, a + size, a)) if lo < 0 else idx


def _as_mask(k):
    """A numpy bool array or a list of Python bools used as an index becomes a bool Tensor."""
    if isinstance(k, np.ndarray) and k.dtype == np.bool_:
        return tensor(k)
    if isinstance(k, list) and k and builtins.all(isinstance(v, (builtins.bool, np.bool_)) for v in _flat(k)):
        return tensor(k)
    return k


def _mask_index(x, d, mask):
    """x[..., mask] with `mask` covering dims d .. d+mask.dim()-1: those dims become one dim
    holding the selected entries in row-major order (flatten + index_select in the core,
    so the gradient flows)."""
    n = mask.dim()
    if tuple(x.shape[d : d + n]) != tuple(mask.shape):
        raise IndexError(
            f"The shape of the mask {list(mask.shape)} at index {d} does not match the shape of the "
            f"indexed tensor {list(x.shape)} at index {d}"
        )
    flat = x.unsqueeze(d) if n == 0 else x.flatten(d, d + n - 1) if n > 1 else x
    idx = mask.reshape(-1).nonzero().reshape(-1)
    return flat.index_select(d, idx)


class _GradFn:
    """torch's autograd node as seen from Python: `y.grad_fn` is an object of a class named as
    torch names the op (AddmmBackward0, ...), with next_functions built from the core's record
    of the op's inputs: (node, 0) for an input with a graph, (AccumulateGrad, 0) for a leaf that
    requires grad, (None, 0) for an input without gradient."""

    __slots__ = ("_tensor",)

    def __init__(self, tensor):
        self._tensor = tensor

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        n = ctypes.c_int64()
        check(C.dfm_tensor_grad_fn_input_count(self._tensor._h, ctypes.byref(n)))
        out = []
        for i in range(n.value):
            h = Handle()
            check(C.dfm_tensor_grad_fn_input(self._tensor._h, i, ctypes.byref(h)))
            x = _wrap(h.value)
            if not x.requires_grad:
                out.append((None, 0))
            else:
                out.append((x.grad_fn or AccumulateGrad(x), 0))
        return tuple(out)

    def __repr__(self):
        return f"<{type(self).__name__} object at {id(self):#x}>"


class AccumulateGrad:
    """The node that accumulates a leaf's gradient; `.variable` is the leaf."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


_GRAD_FN_CLASSES = {}


def _grad_fn_class(name):
    cls = _GRAD_FN_CLASSES.get(name)
    if cls is None:
        cls = _GRAD_FN_CLASSES[name] = type(name, (_GradFn,), {"__slots__": ()})
    return cls


class _ArrayHolder:
    """Exposes a tensor's memory to numpy and keeps the tensor alive as the array's base."""

    def __init__(self, t, ptr, shape, npdtype):
        self.tensor = t
        self.__array_interface__ = {"data": (ptr, False), "shape": shape, "typestr": npdtype.str, "version": 3}


# --------------------------------------------------------------------------------
# creation
# --------------------------------------------------------------------------------


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _from_array_copy(a, requires_grad=False):
    if not a.flags.c_contiguous:
        a = a.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    s, n = i64_array(a.shape)
    dt = _NP_TO_DTYPE[a.dtype]
    t = _op("dfm_tensor_from_data", a.ctypes.data_as(ctypes.c_void_p), a.nbytes, s, n, dt.code)
    return _finish(t, requires_grad)


_NP_TO_DTYPE = {
    np.dtype(np.float32): float32,
    np.dtype(np.float64): float64,
    np.dtype(np.int64): int64,
    np.dtype(np.uint8): uint8,
    np.dtype(np.bool_): bool_,
}


def _infer_array(data, dt):
    """A float / int64 / bool numpy array for `data` (lists, numbers, arrays, tensors). As in torch,
    Python floats become the default dtype, while numpy arrays and tensors keep float32 or float64."""
    typed = isinstance(data, (Tensor, np.ndarray, np.floating))
    if isinstance(data, Tensor):
        a = data.detach()._np_view()
    else:
        a = np.asarray(data)
    if dt is None:
        if a.dtype.kind == "f":
            dt = _NP_TO_DTYPE.get(a.dtype, float32) if typed else get_default_dtype()
        elif a.dtype.kind == "b":
            dt = bool_
        elif a.dtype == np.uint8 and typed:
            dt = uint8  # torch keeps a uint8 array's dtype
        elif a.dtype.kind in "iu":
            dt = int64
        elif a.dtype.kind == "O" or a.size == 0 and a.dtype == np.float64:
            dt = get_default_dtype()
        else:
            raise TypeError(f"dfm: cannot make a tensor from {type(data).__name__} with numpy dtype {a.dtype}")
    if dt is int64 and a.dtype.kind == "f" and a.size and not np.all(np.isfinite(a)):
        raise ValueError("dfm: cannot convert non-finite values to int64")
    _check_int_range(a, dt)
    return a.astype(dt.np, copy=False), dt


def _check_int_range(a, dt):
    """Python ints beyond int64 (numpy keeps them as uint64 or object) must not wrap on the
    way to an int64 tensor; object arrays of ints beyond int64 are refused for any dtype, as in torch."""
    if not a.size:
        return
    if a.dtype.kind == "u" and dt is int64 and int(a.max()) > _lib.I64_MAX:  # int(): numpy 1.x compares in float64
        _lib.check_i64(int(a.max()), "value")
    elif a.dtype.kind == "O":
        for v in a.flat:
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                _lib.check_i64(int(v), "value")


def _flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flat(y)
    else:
        yield x


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    if device is not None:
        globals()["device"](device)
    a, _ = _infer_array(data, to_dtype(dtype))
    return _from_array_copy(a, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if device is not None:
        globals()["device"](device)
    dt = to_dtype(dtype)
    if isinstance(data, Tensor):
        return data if dt is None or dt is data.dtype else data.to(dt)
    if isinstance(data, np.ndarray) and data.dtype in _NP_TO_DTYPE and (dt is None or dt.np == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dt)


def from_numpy(a):
    """Zero-copy: the tensor uses the array's memory, which stays alive while dfm needs it."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    if a.dtype not in _NP_TO_DTYPE:
        raise TypeError(
            f"dfm: from_numpy supports float32, float64, int64, uint8 and bool arrays, got {a.dtype} "
            "(convert with a.astype(np.float32) or a.astype(np.int64))"
        )
    if a.dtype.byteorder == ">":
        raise TypeError("dfm: big-endian arrays are not supported")
    if not a.flags.c_contiguous or not a.flags.aligned or not a.flags.writeable or a.size == 0:
        # dfm tensors are dense row-major; other layouts are copied
        return _from_array_copy(a)
    dt = _NP_TO_DTYPE[a.dtype]
    cookie = next(_blob_ids)
    with _blob_lock:
        _blobs[cookie] = a
    s, n = i64_array(a.shape)
    out = Handle()
    st = C.dfm_tensor_from_blob(
        ctypes.c_void_p(a.ctypes.data), a.nbytes, s, n, dt.code, _RELEASE_CB, ctypes.c_void_p(cookie), ctypes.byref(out)
    )
    if st != _lib.OK:
        with _blob_lock:
            _blobs.pop(cookie, None)
        check(st)
    return _wrap(out.value)


def _new_shape(size):
    """A creation shape; negative dims raise torch's RuntimeError."""
    shape = _shape_args(size)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {shape}")
    return i64_array(shape)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if device is not None:
        globals()["device"](device)
    dt = to_dtype(dtype) or get_default_dtype()
    s, n = _new_shape(size)
    return _finish(_op("dfm_tensor_zeros", s, n, dt.code), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if device is not None:
        globals()["device"](device)
    dt = to_dtype(dtype) or get_default_dtype()
    s, n = _new_shape(size)
    return _finish(_op("dfm_tensor_ones", s, n, dt.code), requires_grad)


empty = zeros


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if device is not None:
        globals()["device"](device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = to_dtype(dtype)
    if dt is None:
        dt = (
            bool_
            if isinstance(fill_value, (builtins.bool, np.bool_))
            else int64
            if isinstance(fill_value, (int, np.integer))
            else get_default_dtype()
        )
    s, n = _new_shape((size,))
    return _finish(_op("dfm_tensor_full", s, n, float(fill_value), dt.code), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    m = n if m is None else m
    e = arange(int(n)).unsqueeze(1) == arange(int(m))
    return _finish(e.to(to_dtype(dtype) or get_default_dtype()), requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


empty_like = zeros_like


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(tuple(t.shape), fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def rand_like(t, dtype=None):
    return rand(*t.shape, dtype=dtype or t.dtype)


def randn_like(t, dtype=None):
    return randn(*t.shape, dtype=dtype or t.dtype)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if device is not None:
        globals()["device"](device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    dt = to_dtype(dtype)
    if dt is None:
        dt = get_default_dtype() if any(isinstance(v, (float, np.floating)) for v in vals) else int64
    if vals[2] == 0:
        raise RuntimeError("step must be nonzero")
    return _finish(_op("dfm_tensor_arange", float(vals[0]), float(vals[1]), float(vals[2]), dt.code), requires_grad)


def _float_dtype(dtype, fn):
    """The float dtype a random tensor is made in (the default dtype unless given)."""
    dt = to_dtype(dtype) or get_default_dtype()
    if not dt.is_floating_point:
        raise TypeError(f"dfm: {fn} makes floating point tensors only (got dtype {dt})")
    return dt


def _random(fn, size, dtype, requires_grad):
    # The core draws float32 values; a float64 tensor gets them converted exactly, so a seed gives
    # the same numbers in either precision.
    dt = _float_dtype(dtype, fn[len("dfm_tensor_") :])
    s, n = _new_shape(size)
    t = _op(fn, s, n)
    return _finish(t if dt is float32 else t.to(dt), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    if device is not None:
        globals()["device"](device)
    return _random("dfm_tensor_randn", size, dtype, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    if device is not None:
        globals()["device"](device)
    return _random("dfm_tensor_rand", size, dtype, requires_grad)


def randint(low=0, high=None, size=None, dtype=None, device=None, generator=None, requires_grad=False):
    if device is not None:
        globals()["device"](device)
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None and size is not None:  # randint(high, size=...)
        low, high = 0, low
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: expected randint(low=0, high, size)")
    dt = to_dtype(dtype) or int64
    if dt is not int64:
        raise TypeError("dfm: randint makes int64 tensors only")
    s, n = _new_shape((size,))
    return _op("dfm_tensor_randint", int(low), int(high), s, n)


def randperm(n, dtype=None, device=None, generator=None, requires_grad=False):
    return _op("dfm_tensor_randperm", int(n))


def _handles(tensors, fn):
    ts = list(tensors)
    if not ts:
        raise ValueError(f"{fn}(): expected a non-empty list of Tensors")
    for i, t in enumerate(ts):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{fn}(): argument 'tensors' must be a sequence of Tensors, but element {i} is {type(t).__name__}"
            )
    return ts, _lib.handle_array([t._h for t in ts])


def cat(tensors, dim=0, out=None):
    ts, (arr, n) = _handles(tensors, "cat")
    y = _op("dfm_cat", arr, n, int(dim))
    return y if out is None else _write_out(y, out)


concat = cat
concatenate = cat


def stack(tensors, dim=0, out=None):
    ts, (arr, n) = _handles(tensors, "stack")
    y = _op("dfm_stack", arr, n, int(dim))
    return y if out is None else _write_out(y, out)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return _as_tensor_like(condition).nonzero(as_tuple=True)
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    c = _as_tensor_like(condition)
    a = _as_tensor_like(input, like)
    b = _as_tensor_like(other, like)
    return _op("dfm_where", c._h, a._h, b._h)


def maximum(a, b):
    return where(a >= b, a, b)


def minimum(a, b):
    return where(a <= b, a, b)


def manual_seed(seed):
    check(C.dfm_manual_seed(int(seed)))  # -2**63...2**64-1, negatives wrap as in torch
    return None


def initial_seed():
    """The default generator's seed: drawn from the OS at start (as torch), or the last manual_seed."""
    v = ctypes.c_uint64()
    check(C.dfm_initial_seed(ctypes.byref(v)))
    return v.value


def seed():
    """torch.seed(): reseeds the default generator from the OS; returns the new seed."""
    v = ctypes.c_uint64()
    check(C.dfm_seed(ctypes.byref(v)))
    return v.value


def set_num_threads(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    n = int(n)
    check(C.dfm_set_num_threads(n if -(2**31) <= n < 2**31 else -1))


def get_num_threads():
    return int(C.dfm_get_num_threads())


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(t):
    return t.numel()


def live_handle_count():
    """Handles alive in libdfm (for leak checks)."""
    return int(C.dfm_live_handle_count())
