"""dfm.save / dfm.load (pickle, like torch.save) and dfm.save_file / dfm.load_file
(the safetensors format, readable by the `safetensors` package and PyTorch).

Tensors are pickled as raw bytes + shape + dtype (no numpy objects in the pickle), and
load() by default only rebuilds dfm tensors and plain containers (torch's weights_only).
"""

import ctypes
import errno
import io
import os
import pickle
import pickletools
import stat
import struct

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
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("dfm._serialization", "_rebuild_tensor"),
    ("dfm._serialization", "_rebuild_parameter"),
    ("dfm._tensor", "_dtype_by_name"),
}


class _WeightsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"dfm.load(weights_only=True) refuses to load {module}.{name}; "
            "pass weights_only=False if you trust the file"
        )


def save(obj, f, pickle_module=None, pickle_protocol=2, **kwargs):
    data = pickle.dumps(obj, protocol=max(4, pickle_protocol))  # >= 3 stores bytes natively
    if hasattr(f, "write"):
        f.write(data)
        return
    _atomic_write(os.fspath(f), data)


class CheckpointError(pickle.UnpicklingError, RuntimeError):
    """A file dfm.load cannot read: torch raises pickle.UnpicklingError there; it is also a
    RuntimeError, as dfm's earlier releases raised."""


def load(f, map_location=None, pickle_module=None, weights_only=True, **kwargs):
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            data = fh.read()
    # With weights_only every failure comes from the file (only dfm's own rebuild functions
    # and plain containers run), so each one is reported as a malformed checkpoint.
    malformed = (Exception,) if weights_only else (pickle.UnpicklingError, EOFError, ValueError, struct.error)
    try:
        if weights_only:
            _check_opcodes(data)
            return _WeightsOnlyUnpickler(io.BytesIO(data)).load()
        return pickle.loads(data)
    except MemoryError:
        raise
    except malformed as e:
        raise CheckpointError(
            f"dfm.load: {getattr(f, 'name', f)} is not a valid dfm checkpoint ({type(e).__name__}: {e})"
        ) from e


def _check_opcodes(data):
    """What CPython's C unpickler mishandles, refused before it runs (found by
    fuzz/fuzz_unpickle.py):
    - it grows its memo to the largest PUT index it meets: an 11-byte pickle with LONG_BINPUT
      2**30 allocates 8 GB. pickle numbers memo entries from 0 as it writes them, so no index
      exceeds the opcodes before it;
    - an opcode that straddles the end of a FRAME, or a FRAME inside a frame (the format
      forbids both), corrupts its read position: a 30-byte pickle raises MemoryError."""
    frame_end = None
    end = 0
    for n, (op, arg, pos) in enumerate(pickletools.genops(data)):
        if frame_end is not None and pos >= frame_end:
            if pos > frame_end:
                raise pickle.UnpicklingError(f"an opcode crosses the end of the frame at byte {frame_end}")
            frame_end = None
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= int(arg) <= n:
            raise pickle.UnpicklingError(f"memo index {arg} at byte {pos} is out of range")
        if op.name == "FRAME":
            if frame_end is not None:
                raise pickle.UnpicklingError(f"a frame starts inside another frame at byte {pos}")
            frame_end = pos + 9 + arg
        end = pos + 1
    if frame_end is not None and end > frame_end:
        raise pickle.UnpicklingError(f"an opcode crosses the end of the frame at byte {frame_end}")


# Temporary files are named NAME.tmp-PID-RANDOM, as the core's writer (AtomicFile) names them.
_TMP_INFIX = ".tmp-"


def _remove_stale_temporaries(path):
    """Removes temporaries of `path` left by writers killed mid-write (their process is gone)."""
    d, base = os.path.split(os.path.abspath(path))
    prefix = base + _TMP_INFIX
    try:
        names = os.listdir(d)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].split("-")
        if len(parts) != 2 or not all(p.isdigit() and p.isascii() for p in parts) or int(parts[0]) <= 0:
            continue
        try:
            os.kill(int(parts[0]), 0)
            continue  # alive (maybe still writing)
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        full = os.path.join(d, name)
        try:
            if stat.S_ISREG(os.lstat(full).st_mode):
                os.unlink(full)
        except OSError:
            pass


def _atomic_write(path, data):
    """Writes like the core: a temporary file created with mode 0644 minus the umask, fsync,
    then rename over `path`. Errors name `path` (as torch.save's open() would), never the
    temporary file."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    _remove_stale_temporaries(path)
    tmp = f"{path}{_TMP_INFIX}{os.getpid()}-{int.from_bytes(os.urandom(4), 'little')}"  # not `random`: the caller's stream
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise type(e)(e.errno, e.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None:
            raise type(e)(e.errno, e.strerror, path) from None
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
