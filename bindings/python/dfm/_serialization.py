"""dfm.save / dfm.load (pickle, like torch.save) and dfm.save_file / dfm.load_file
(the safetensors format, readable by the `safetensors` package and PyTorch).

Tensors are pickled as raw bytes + shape + dtype (no numpy objects in the pickle), and
load() by default only rebuilds dfm tensors and plain containers (torch's weights_only).
"""
import ctypes
import io
import os
import pickle
import struct
import tempfile

import numpy as np

from ._dicts import dict_from_handle, dict_to_handle, owned_dict
from ._lib import C, Handle, check
from ._tensor import _NP_TO_DTYPE, _from_array_copy

_NP_BY_NAME = {d.name: a for a, d in _NP_TO_DTYPE.items()}


def _rebuild_tensor(data, shape, dtype_name, requires_grad):
    if dtype_name not in _NP_BY_NAME:
        raise pickle.UnpicklingError(f"dfm.load: unknown tensor dtype {dtype_name!r}")
    a = np.frombuffer(data, dtype=_NP_BY_NAME[dtype_name]).reshape(shape)
    return _from_array_copy(a, requires_grad)


def _rebuild_parameter(data, shape, dtype_name, requires_grad):
    from .nn.parameter import Parameter
    return Parameter(_rebuild_tensor(data, shape, dtype_name, False), requires_grad)


def _reduce_tensor(t):
    from .nn.parameter import Parameter
    a = t.detach()._np_view()
    fn = _rebuild_parameter if isinstance(t, Parameter) else _rebuild_tensor
    return (fn, (a.tobytes(), tuple(a.shape), t.dtype.name, t.requires_grad))


_SAFE = {
    ("collections", "OrderedDict"), ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"), ("builtins", "complex"),
    ("dfm._serialization", "_rebuild_tensor"), ("dfm._serialization", "_rebuild_parameter"),
    ("dfm._tensor", "_dtype_by_name"),
}


class _WeightsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"dfm.load(weights_only=True) refuses to load {module}.{name}; "
            "pass weights_only=False if you trust the file")


def save(obj, f, pickle_module=None, pickle_protocol=2, **kwargs):
    data = pickle.dumps(obj, protocol=max(4, pickle_protocol))  # >= 3 stores bytes natively
    if hasattr(f, "write"):
        f.write(data)
        return
    _atomic_write(os.fspath(f), data)


def load(f, map_location=None, pickle_module=None, weights_only=True, **kwargs):
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            data = fh.read()
    try:
        if weights_only:
            return _WeightsOnlyUnpickler(io.BytesIO(data)).load()
        return pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, ValueError, struct.error) as e:
        raise RuntimeError(f"dfm.load: {getattr(f, 'name', f)} is not a valid dfm checkpoint ({e})") from e


def _atomic_write(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".dfm-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_file(tensors, filename, metadata=None):
    """safetensors.torch.save_file: a dict of str -> Tensor into `filename` (written by the core, atomically)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file expects a dict of str -> Tensor, got {type(tensors).__name__}")
    with owned_dict(dict_to_handle(tensors, metadata, "save_file")) as h:
        check(C.dfm_safetensors_write(os.fsencode(os.fspath(filename)), h))


def load_file(filename, device="cpu"):
    """safetensors.torch.load_file: a dict of str -> Tensor (read by the core)."""
    h = Handle()
    check(C.dfm_safetensors_read(os.fsencode(os.fspath(filename)), ctypes.byref(h)))
    with owned_dict(h.value):
        tensors, _ = dict_from_handle(h.value)
    return dict(tensors)


def load_file_with_metadata(filename):
    h = Handle()
    check(C.dfm_safetensors_read(os.fsencode(os.fspath(filename)), ctypes.byref(h)))
    with owned_dict(h.value):
        tensors, meta = dict_from_handle(h.value)
    return dict(tensors), meta
