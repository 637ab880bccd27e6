"""dfm: PyTorch-style deep learning on libdfm (CPU, float32/float64/int64/bool), over ctypes.

`import dfm as torch` runs PyTorch training scripts: every computation happens in
libdfm (Swift core); this package converts arguments and owns handles.
"""
from . import _lib
from ._lib import DFMIOError
from ._tensor import (Size, Tensor, _UnsupportedDtype, arange, bool_, eye, as_tensor, cat, concat, concatenate, device,
                      dtype, empty, empty_like, enable_grad, float32, float64, from_numpy, full, full_like,
                      get_default_dtype, get_num_threads, set_default_dtype, uint8, inference_mode, int64, is_grad_enabled, is_tensor, live_handle_count,
                      manual_seed, initial_seed, maximum, minimum, no_grad, numel, ones, ones_like, rand, rand_like, randint,
                      randn, randn_like, randperm, seed, set_grad_enabled, set_num_threads, stack, tensor, where,
                      zeros, zeros_like)
from ._functions import *  # noqa: F401,F403  (torch.relu, torch.sum, ...)
from ._surface import *  # noqa: F401,F403  (torch.flip, roll, triu, tril, diag, prod, einsum)
from ._serialization import load, load_file, save, save_file

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

from . import nn, optim, utils, datasets, transforms, models, cuda, backends, segmentation, accelerator  # noqa: E402,F401
from . import vision  # noqa: E402,F401  (import dfm.vision as torchvision)
from . import segmentation as metrics  # noqa: E402,F401  (dfm.metrics.mean_iou, ...)
datasets.SegmentationScenes = segmentation.SegmentationScenes
from .nn.parameter import Parameter  # noqa: E402,F401
from . import distributed  # noqa: E402,F401  (torch.distributed over MPI)
