"""A dfm.nn.Module backed by a module built in the core (the DFM models, torchvision ResNets).

Its parameters and buffers ARE the core module's tensors (shared handles), so optimizers,
state dicts and in-place loads act on the core model directly.
"""

import ctypes

from .._dicts import dict_from_handle, dict_to_handle, owned_dict, strings_from_handle
from .._lib import C, Handle, check
from .._tensor import Tensor
from .module import Module, _IncompatibleKeys
from .parameter import Parameter


def _as_parameter(t):
    p = object.__new__(Parameter)
    p._h, t._h = t._h, None  # move the reference
    return p


class CoreModule(Module):
    def __init__(self, handle):
        super().__init__()
        object.__setattr__(self, "_core", handle)
        for what in ("_core_params", "_core_buffers", "_core_state"):
            object.__setattr__(self, what, [])
        self._refresh()
        training = ctypes.c_bool()
        check(C.dfm_module_is_training(handle, ctypes.byref(training)))
        object.__setattr__(self, "training", training.value)

    def _refresh(self):
        out = []
        for fn in ("dfm_module_named_parameters", "dfm_module_named_buffers", "dfm_module_state_dict"):
            h = Handle()
            check(getattr(C, fn)(self._core, ctypes.byref(h)))
            with owned_dict(h.value):
                d, _ = dict_from_handle(h.value)
            out.append(list(d.items()))
        params = [(k, _as_parameter(v)) for k, v in out[0]]
        object.__setattr__(self, "_core_params", params)
        object.__setattr__(self, "_core_buffers", out[1])
        object.__setattr__(self, "_core_state", out[2])

    def __del__(self):
        h = self.__dict__.get("_core")
        if h:
            self.__dict__["_core"] = None
            try:
                C.dfm_module_release(h)
            except Exception:
                pass

    def _local_parameters(self):
        return list(self._core_params) + super()._local_parameters()

    def _local_buffers(self):
        return list(self._core_buffers) + super()._local_buffers()

    def _local_state(self):
        return list(self._core_state) + super()._local_state()

    def _on_train(self, mode):
        check(C.dfm_module_train(self._core, bool(mode)))

    def load_state_dict(self, state_dict, strict=True, assign=False):
        if self._modules or self._parameters or self._buffers:
            return super().load_state_dict(state_dict, strict, assign)
        for k, v in state_dict.items():
            if not isinstance(v, Tensor):
                raise RuntimeError(
                    f'While copying the parameter named "{k}", expected torch.Tensor or Tensor-like '
                    f"object from checkpoint but received {type(v)}"
                )
        missing, unexpected = Handle(), Handle()
        with owned_dict(dict_to_handle(state_dict, None, "load_state_dict")) as h:
            st = C.dfm_module_load_state_dict(
                self._core, h, bool(strict), ctypes.byref(missing), ctypes.byref(unexpected)
            )
        miss, unexp = strings_from_handle(missing.value), strings_from_handle(unexpected.value)
        if st:
            from .._lib import error_for

            e = error_for(st)
            raise RuntimeError(str(e)) if not isinstance(e, RuntimeError) else e
        return _IncompatibleKeys(miss, unexp)

    def zero_grad(self, set_to_none=True):
        if set_to_none:
            check(C.dfm_module_zero_grad(self._core))
        super().zero_grad(set_to_none)

    def forward(self, x):
        out = Handle()
        check(C.dfm_module_forward(self._core, x._h, ctypes.byref(out)))
        from .._tensor import _wrap

        return _wrap(out.value)

    def save(self, path):
        """state_dict() to a safetensors file (core)."""
        import os

        check(C.dfm_module_save(self._core, os.fsencode(os.fspath(path))))

    def __repr__(self):
        n = ctypes.c_size_t()
        check(C.dfm_module_repr(self._core, None, 0, ctypes.byref(n)))
        buf = ctypes.create_string_buffer(n.value + 1)
        check(C.dfm_module_repr(self._core, buf, n.value + 1, None))
        return buf.value.decode()

    def __getstate__(self):
        raise TypeError(
            f"{type(self).__name__} wraps a core module and cannot be pickled; "
            "save its state_dict() instead (dfm.save(model.state_dict(), path))"
        )
