"""torch.nn.parallel.DistributedDataParallel over dfm.distributed (MPI).

The reducer lives in libdfm (dfm_dist_ddp_tensors): rank 0's parameters and buffers are
broadcast when the model is wrapped, buffers again before each forward (broadcast_buffers),
and after each backward every gradient is the average over ranks, reduced in buckets that
start while backward is still running. Works for any dfm.nn.Module, core-built or Python.
"""

import ctypes

from .._lib import C, Handle, check, handle_array
from .module import Module


class DistributedDataParallel(Module):
    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        dim=0,
        broadcast_buffers=True,
        process_group=None,
        bucket_cap_mb=None,
        find_unused_parameters=False,
        check_reduction=False,
        gradient_as_bucket_view=False,
        static_graph=False,
        **kwargs,
    ):
        super().__init__()
        if process_group is not None:
            raise ValueError("dfm DistributedDataParallel: only the default process group (None) exists")
        if device_ids not in (None, [], ["cpu"]) or output_device not in (None, "cpu"):
            raise ValueError("dfm DistributedDataParallel runs on the CPU: device_ids and output_device must be None")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        cap = 25.0 if bucket_cap_mb is None else float(bucket_cap_mb)
        params = [p for p in module.parameters()]
        buffers = [b for b in module.buffers()]
        parr, np_ = handle_array([p._h for p in params])
        barr, nb = handle_array([b._h for b in buffers])
        h = Handle()
        check(C.dfm_dist_ddp_tensors(parr, np_, barr, nb, cap, self.broadcast_buffers, ctypes.byref(h)))
        object.__setattr__(self, "_ddp", h.value)
        # The Tensor objects keep their handles alive while the reducer uses them.
        object.__setattr__(self, "_ddp_tensors", params + buffers)

    def __del__(self):
        h = self.__dict__.get("_ddp")
        if h:
            self.__dict__["_ddp"] = None
            try:
                C.dfm_module_release(h)
            except Exception:
                pass

    def forward(self, *inputs, **kwargs):
        check(C.dfm_dist_ddp_prepare_forward(self._ddp))
        return self.module(*inputs, **kwargs)

    def comm_stats(self):
        """(seconds spent on gradient communication outside backward's compute, reduced backward passes)."""
        s, n = ctypes.c_double(), ctypes.c_int64()
        check(C.dfm_dist_ddp_stats(self._ddp, ctypes.byref(s), ctypes.byref(n)))
        return s.value, n.value
