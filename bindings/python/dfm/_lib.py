"""Loads libdfm.so and declares every C function of Include/dfm.h for ctypes.

Search order: $DFM_LIBRARY, the libdfm.so bundled in this package (an installed wheel), the
SwiftPM build folders when the package runs from a source checkout (.build/release,
.build/debug), then the system's loader path (libdfm.so.<ABI major>, e.g. from `make install`).
The declarations come from the header of a source checkout when there is one (so they cannot
drift from it), else from the generated _decls.py.
"""

import ctypes
import os
import threading

from . import _decls, _header

_PKG = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.normpath(os.path.join(_PKG, "..", "..", ".."))
_HEADER = os.path.join(_REPO, "Include", "dfm.h")

BUILD_HINT = (
    "install the package with `pip install <dfm checkout>` (it builds and bundles libdfm), "
    "or build it with `swift build -c release --product dfm` in the checkout, "
    "or point DFM_LIBRARY at an existing libdfm.so"
)


class LibraryNotFound(ImportError):
    pass


def _declarations():
    if os.path.isfile(_HEADER):
        try:
            abi, decls, enums = _header.parse_file(_HEADER)
            if abi is not None and decls:
                return abi, decls, enums
        except (OSError, ValueError):
            pass
    return _decls.ABI_VERSION, _decls.DECLS, _decls.ENUMS


ABI_VERSION, DECLS, ENUMS = _declarations()

# Called by dfm when it no longer needs a buffer given to dfm_tensor_from_blob.
RELEASE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)

_SCALARS = {
    "void": None,
    "bool": ctypes.c_bool,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "uint32_t": ctypes.c_uint32,
    "size_t": ctypes.c_size_t,
    "char": ctypes.c_char,
    "int": ctypes.c_int,
    "uint8_t": ctypes.c_uint8,
}


def ctype(name):
    """The ctypes type for a normalised C type spelling from the header."""
    name = name.replace("const ", "").strip()
    if name == "char*":
        return ctypes.c_char_p
    if name in ("void*",):
        return ctypes.c_void_p
    if name == "dfm_release_fn":
        return RELEASE_FN
    if name.endswith("*"):
        inner = name[:-1].strip()
        if inner == "void*":
            return ctypes.POINTER(ctypes.c_void_p)
        return ctypes.POINTER(ctype(inner))
    if name in _SCALARS:
        return _SCALARS[name]
    if name in ENUMS:
        return ctypes.c_int32  # C enums with small explicit values
    if name.startswith("dfm_"):
        return ctypes.c_void_p  # opaque handle
    raise TypeError(f"dfm: unknown C type {name!r} in dfm.h")


# --- integers at the boundary ------------------------------------------------------
# ctypes silently wraps a Python int into an int64_t (2**64 + 3 arrives as 3). Every
# integer that crosses into libdfm goes through one of the two checks below: by-value
# int64_t / uint64_t / int32_t arguments through the argtypes classes, arrays through i64_array.

I64_MIN, I64_MAX, U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


class IntOverflowError(OverflowError, RuntimeError):
    """A Python int that does not fit the C integer it is passed as (torch raises
    RuntimeError "Overflow when unpacking long" there, Python OverflowError)."""


def check_i64(v, what="integer"):
    """v itself, or IntOverflowError when it is an int that does not fit in int64."""
    if isinstance(v, int) and not I64_MIN <= v <= I64_MAX:
        raise IntOverflowError(f"dfm: {what} {v} does not fit in int64 (Overflow when unpacking long)")
    return v


class _Int64Arg:
    """argtypes entry for a by-value int64_t: range-checked, then ctypes' own conversion."""

    @staticmethod
    def from_param(v):
        return ctypes.c_int64.from_param(check_i64(v))


class _UInt64Arg:
    """argtypes entry for a by-value uint64_t (seeds): -2**63...2**64-1, negatives wrap as in torch."""

    @staticmethod
    def from_param(v):
        if isinstance(v, int):
            if not I64_MIN <= v <= U64_MAX:
                raise IntOverflowError(f"dfm: integer {v} does not fit in uint64 (Overflow when unpacking long)")
            v &= U64_MAX
        return ctypes.c_uint64.from_param(v)


class _Int32Arg:
    """argtypes entry for a by-value int32_t (a thread count)."""

    @staticmethod
    def from_param(v):
        if isinstance(v, int) and not -(1 << 31) <= v < (1 << 31):
            raise IntOverflowError(f"dfm: integer {v} does not fit in int32 (Overflow when unpacking long)")
        return ctypes.c_int32.from_param(v)


_CHECKED_ARGS = {"int64_t": _Int64Arg, "uint64_t": _UInt64Arg, "int32_t": _Int32Arg}


def arg_ctype(name):
    """The argtypes entry for a parameter: ctype(name), range-checked for by-value integers."""
    return _CHECKED_ARGS.get(name.replace("const ", "").strip()) or ctype(name)


def _candidates():
    env = os.environ.get("DFM_LIBRARY")
    if env:
        return [env], True
    c = [os.path.join(_PKG, "libdfm.so")]
    if os.path.isfile(_HEADER):  # running from a source checkout
        for cfg in ("release", "debug"):
            c.append(os.path.join(_REPO, ".build", cfg, "libdfm.so"))
    c.append(f"libdfm.so.{ABI_VERSION}")
    return c, False


def _load():
    paths, explicit = _candidates()
    errors = []
    for p in paths:
        if os.sep in p and not os.path.exists(p):
            errors.append(f"{p}: no such file")
            continue
        try:
            return ctypes.CDLL(p), p
        except OSError as e:
            errors.append(f"{p}: {e}")
    where = "DFM_LIBRARY=" + paths[0] if explicit else "searched " + ", ".join(paths)
    raise LibraryNotFound(
        f"dfm: cannot load libdfm.so ({where}).\n  " + "\n  ".join(errors) + f"\nTo fix: {BUILD_HINT}."
    )


lib, path = _load()


def _raising_overflow(f):
    """ctypes reports an argument converter's exception as ctypes.ArgumentError; give the
    caller the IntOverflowError itself (an OverflowError and a RuntimeError, as torch raises)."""

    def call(*args):
        try:
            return f(*args)
        except ctypes.ArgumentError as e:
            msg = str(e)
            k = msg.find("IntOverflowError: ")
            if k < 0:
                raise
            detail = msg[k + len("IntOverflowError: ") :]
            raise IntOverflowError(f"{f.__name__}: {detail[5:] if detail.startswith('dfm: ') else detail}") from None

    call.__name__ = f.__name__
    return call


_missing = set()
_checked = {}
for _name, (_ret, _args) in DECLS.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        _missing.add(_name)
        continue
    _fn.restype = ctype(_ret)
    _fn.argtypes = [arg_ctype(t) for t, _ in _args]
    if any(arg_ctype(t) in _CHECKED_ARGS.values() for t, _ in _args):
        _checked[_name] = _raising_overflow(_fn)

try:
    _lib_abi = int(lib.dfm_abi_version())
except AttributeError:
    raise LibraryNotFound(f"dfm: {path} is not a dfm library (no dfm_abi_version). To fix: {BUILD_HINT}.")
if _lib_abi != ABI_VERSION:
    raise LibraryNotFound(
        f"dfm: {path} has ABI version {_lib_abi} but this Python package needs ABI {ABI_VERSION}. "
        f"To fix: rebuild the library from the same checkout ({BUILD_HINT})."
    )

VERSION = lib.dfm_version().decode()


def has(name):
    return name in DECLS and name not in _missing


class _Missing:
    def __init__(self, name):
        self.name = name

    def __call__(self, *a):
        raise NotImplementedError(
            f"dfm: this libdfm ({path}) does not export {self.name}; the operation needs a newer library ({BUILD_HINT})"
        )


def fn(name):
    """The declared C function `name` (a stub that raises if the library lacks it)."""
    if name in _missing or name not in DECLS:
        return _Missing(name)
    return _checked.get(name) or getattr(lib, name)


class _Funcs:
    """Attribute access to the C functions: C.dfm_add(...)."""

    def __getattr__(self, name):
        f = fn(name)
        setattr(self, name, f)
        return f


C = _Funcs()

# --- errors ---------------------------------------------------------------------

_STATUS = ENUMS.get("dfm_status", {})
OK = _STATUS.get("DFM_OK", 0)


class DFMIOError(OSError, RuntimeError):
    """A file dfm could not read or write (truncated, corrupt, unwritable)."""


_EXC = {
    "DFM_INVALID_ARGUMENT": ValueError,
    "DFM_SHAPE_MISMATCH": RuntimeError,
    "DFM_OUT_OF_MEMORY": MemoryError,
    "DFM_IO_ERROR": DFMIOError,
    "DFM_NOT_FOUND": FileNotFoundError,
    "DFM_STATE_ERROR": RuntimeError,
    "DFM_INTERNAL": RuntimeError,
    "DFM_INDEX_ERROR": IndexError,
    "DFM_TYPE_ERROR": TypeError,
}
_BY_CODE = {v: _EXC.get(k, RuntimeError) for k, v in _STATUS.items()}
_NAMES = {v: k for k, v in _STATUS.items()}


def error_for(status):
    msg = lib.dfm_last_error_message()
    msg = msg.decode("utf-8", "replace") if msg else ""
    exc = _BY_CODE.get(status, RuntimeError)
    e = exc(msg or f"dfm call failed with {_NAMES.get(status, status)}")
    e.status = _NAMES.get(status, status)
    return e


def check(status):
    """Raises the Python exception for a non-OK dfm_status, with the library's message."""
    if status != OK:
        raise error_for(status)


def call(name, *args):
    check(fn(name)(*args))


# --- small marshalling helpers --------------------------------------------------

Handle = ctypes.c_void_p
I64 = ctypes.c_int64


def i64_array(values, what="integer"):
    values = [check_i64(v, what) for v in values]
    return (I64 * max(len(values), 1))(*values), len(values)


def handle_array(handles):
    handles = list(handles)
    return (Handle * max(len(handles), 1))(*handles), len(handles)


_tls = threading.local()
