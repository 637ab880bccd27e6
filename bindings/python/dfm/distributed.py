"""torch.distributed over MPI: init_process_group(backend="mpi") in every process of an
`mpirun -np N python3 script.py` job (or srun). Collectives run in libdfm (Open MPI, loaded
at run time); this module only converts arguments. One group, the world: the `group`
arguments accept None only.
"""

import ctypes
import enum

from ._lib import C, Handle, check
from ._tensor import Tensor, _wrap, no_grad


class ReduceOp(enum.IntEnum):
    """torch.distributed.ReduceOp (dfm_reduce_op)."""

    SUM = 0
    PRODUCT = 1
    MIN = 2
    MAX = 3
    AVG = 4


class Backend(str):
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"


GroupMember = type("GroupMember", (), {"WORLD": None})


def is_available():
    """True when Open MPI can be loaded (dfm's only backend)."""
    return bool(C.dfm_dist_is_available())


def is_mpi_available():
    return is_available()


def is_gloo_available():
    return False


def is_nccl_available():
    return False


def is_initialized():
    return bool(C.dfm_dist_is_initialized())


def _no_group(group, fn):
    if group is not None:
        raise ValueError(f"dfm.distributed.{fn}: only the default group (group=None) exists")


def init_process_group(
    backend="mpi",
    init_method=None,
    timeout=None,
    world_size=-1,
    rank=-1,
    store=None,
    group_name="",
    pg_options=None,
    device_id=None,
):
    """Joins the MPI job. Rank and world size come from the launcher; if given, they must agree."""
    b = "mpi" if backend is None else str(backend).lower()
    if b != "mpi":
        raise ValueError(
            f'dfm.distributed: backend "{backend}" is not available; dfm runs on MPI: '
            'init_process_group(backend="mpi") under mpirun or srun'
        )
    check(C.dfm_dist_init(b"mpi"))
    for name, want, have in (("world_size", world_size, get_world_size()), ("rank", rank, get_rank())):
        if want is not None and want != -1 and want != have:
            raise ValueError(f"dfm.distributed.init_process_group: {name}={want} but the MPI launcher says {have}")


def destroy_process_group(group=None):
    _no_group(group, "destroy_process_group")
    check(C.dfm_dist_destroy())


def get_rank(group=None):
    _no_group(group, "get_rank")
    v = ctypes.c_int64()
    check(C.dfm_dist_rank(ctypes.byref(v)))
    return v.value


def get_world_size(group=None):
    _no_group(group, "get_world_size")
    v = ctypes.c_int64()
    check(C.dfm_dist_world_size(ctypes.byref(v)))
    return v.value


def get_backend(group=None):
    _no_group(group, "get_backend")
    get_rank()
    return "mpi"


class _Work:
    """What async_op=True returns: the collective already finished (MPI ran it in the call)."""

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        return True


def _done(async_op):
    return _Work() if async_op else None


def _tensor(t, fn):
    if not isinstance(t, Tensor):
        raise TypeError(f"dfm.distributed.{fn}: expected a Tensor, got {type(t).__name__}")
    return t


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """In place: every rank ends with the reduction over all ranks."""
    _no_group(group, "all_reduce")
    try:
        code = ReduceOp(op)
    except ValueError:
        raise ValueError(f"dfm.distributed.all_reduce: unknown op {op!r}") from None
    check(C.dfm_dist_all_reduce(_tensor(tensor, "all_reduce")._h, int(code)))
    return _done(async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """In place: every rank ends with rank src's values."""
    _no_group(group, "broadcast")
    src = group_src if src is None else src
    if src is None:
        raise TypeError("dfm.distributed.broadcast: missing src")
    check(C.dfm_dist_broadcast(_tensor(tensor, "broadcast")._h, int(src)))
    return _done(async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's tensor (len(tensor_list) must be the world size)."""
    _no_group(group, "all_gather")
    _tensor(tensor, "all_gather")
    n = get_world_size()
    if len(tensor_list) != n:
        raise ValueError(
            f"dfm.distributed.all_gather: tensor_list has {len(tensor_list)} tensors but the world size is {n}"
        )
    out = Handle()
    check(C.dfm_dist_all_gather(tensor._h, ctypes.byref(out)))
    gathered = _wrap(out.value)
    with no_grad():
        for r, t in enumerate(tensor_list):
            t.copy_(gathered[r])
    return _done(async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output_tensor (world_size * input.size(0), ...) receives the ranks' tensors in order."""
    _no_group(group, "all_gather_into_tensor")
    out = Handle()
    check(C.dfm_dist_all_gather(_tensor(input_tensor, "all_gather_into_tensor")._h, ctypes.byref(out)))
    with no_grad():
        output_tensor.copy_(_wrap(out.value).reshape(output_tensor.shape))
    return _done(async_op)


def barrier(group=None, async_op=False, device_ids=None):
    _no_group(group, "barrier")
    check(C.dfm_dist_barrier())
    return _done(async_op)
