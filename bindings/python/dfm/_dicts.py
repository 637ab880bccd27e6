"""Conversions between Python dicts and the core's dfm_tensor_dict / dfm_string_list."""

import ctypes
from collections import OrderedDict

from ._lib import C, Handle, check
from ._tensor import Tensor, _wrap


class _Owned:
    """Releases a container handle when it goes out of scope."""

    def __init__(self, h, release):
        self.h, self.release = h, release

    def __enter__(self):
        return self.h

    def __exit__(self, *exc):
        if self.h:
            self.release(self.h)
            self.h = None


def owned_dict(h):
    return _Owned(h, C.dfm_tensor_dict_release)


def dict_from_handle(h):
    """OrderedDict name -> Tensor (new references to the dict's tensors) plus metadata."""
    n = ctypes.c_int64()
    check(C.dfm_tensor_dict_size(h, ctypes.byref(n)))
    out = OrderedDict()
    for i in range(n.value):
        k = ctypes.c_char_p()
        check(C.dfm_tensor_dict_key(h, i, ctypes.byref(k)))
        t = Handle()
        check(C.dfm_tensor_dict_value(h, i, ctypes.byref(t)))
        out[k.value.decode()] = _wrap(t.value)
    meta = {}
    keys = Handle()
    check(C.dfm_tensor_dict_metadata_keys(h, ctypes.byref(keys)))
    try:
        for k in strings_from_handle(keys.value, release=False):
            v = ctypes.c_char_p()
            check(C.dfm_tensor_dict_get_metadata(h, k.encode(), ctypes.byref(v)))
            meta[k] = v.value.decode()
    finally:
        C.dfm_string_list_release(keys.value)
    return out, meta


def dict_to_handle(tensors, metadata=None, what="state_dict"):
    """A new dfm_tensor_dict holding the given tensors (caller releases it)."""
    h = Handle()
    check(C.dfm_tensor_dict_new(ctypes.byref(h)))
    try:
        for k, v in tensors.items():
            if not isinstance(k, str):
                raise TypeError(f"{what}: keys must be str, got {type(k).__name__}")
            if not isinstance(v, Tensor):
                raise TypeError(f"{what}: value for key {k!r} is {type(v).__name__}, expected a dfm.Tensor")
            check(C.dfm_tensor_dict_set(h.value, k.encode(), v._h))
        for k, v in (metadata or {}).items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"{what}: metadata must map str to str")
            check(C.dfm_tensor_dict_set_metadata(h.value, k.encode(), v.encode()))
    except BaseException:
        C.dfm_tensor_dict_release(h.value)
        raise
    return h.value


def strings_from_handle(h, release=True):
    if not h:
        return []
    try:
        n = ctypes.c_int64()
        check(C.dfm_string_list_size(h, ctypes.byref(n)))
        out = []
        for i in range(n.value):
            s = ctypes.c_char_p()
            check(C.dfm_string_list_get(h, i, ctypes.byref(s)))
            out.append(s.value.decode())
        return out
    finally:
        if release:
            C.dfm_string_list_release(h)
