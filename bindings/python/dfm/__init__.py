"""dfm: PyTorch-style deep learning on libdfm (CPU, float32/float64/int64/bool), over ctypes.

`import dfm as torch` runs PyTorch training scripts: every computation happens in
libdfm (Swift core); this package converts arguments and owns handles.
"""

from . import _lib
from ._functions import *  # noqa: F401,F403  (torch.relu, torch.sum, ...)
from ._lib import DFMIOError
from ._serialization import load, load_file, save, save_file
from ._surface import *  # noqa: F401,F403  (torch.flip, roll, triu, tril, diag, prod, einsum)
from ._tensor import (
    Size,
    Tensor,
    _UnsupportedDtype,
    arange,
    as_tensor,
    bool_,
    cat,
    concat,
    concatenate,
    device,
    dtype,
    empty,
    empty_like,
    enable_grad,
    eye,
    float32,
    float64,
    from_numpy,
    full,
    full_like,
    get_default_dtype,
    get_num_threads,
    inference_mode,
    initial_seed,
    int64,
    is_grad_enabled,
    is_tensor,
    live_handle_count,
    manual_seed,
    maximum,
    minimum,
    no_grad,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    set_default_dtype,
    set_grad_enabled,
    set_num_threads,
    stack,
    tensor,
    uint8,
    where,
    zeros,
    zeros_like,
)

__version__ = _lib.VERSION

float = float32
long = int64
double = float64
float16 = _UnsupportedDtype("float16")
half = float16
bfloat16 = _UnsupportedDtype("bfloat16")
int32 = _UnsupportedDtype("int32")
int = int32
int16 = _UnsupportedDtype("int16")
int8 = _UnsupportedDtype("int8")
bool = bool_

FloatTensor = Tensor
LongTensor = Tensor
DoubleTensor = Tensor
ByteTensor = Tensor
BoolTensor = Tensor

from . import (  # noqa: E402,F401
    accelerator,
    backends,
    cuda,
    datasets,
    models,
    nn,
    optim,
    segmentation,
    transforms,
    utils,
    vision,  # noqa: E402,F401  (import dfm.vision as torchvision)
)
from . import segmentation as metrics  # noqa: E402,F401  (dfm.metrics.mean_iou, ...)

datasets.SegmentationScenes = segmentation.SegmentationScenes
from . import distributed  # noqa: E402,F401  (torch.distributed over MPI)
from .nn.parameter import Parameter  # noqa: E402,F401
