"""dfm.models: the DFM models (docs/MODELS.md) and torchvision's ResNets, built by the core."""

import ctypes

from ._lib import C, Handle, check, i64_array
from ._tensor import Tensor, _wrap
from .nn.core import CoreModule


def _pair(shape):
    if isinstance(shape, int):
        return shape, shape
    h, w = shape
    return int(h), int(w)


class _DFMModel(CoreModule):
    """A Deep Feedback Model: forward(x, T=0, atol=1e-2) runs the equilibrium loop in the core."""

    def forward(self, x, T=0, atol=1e-2):
        if not isinstance(x, Tensor):
            raise TypeError(f"forward() expects a dfm.Tensor, got {type(x).__name__}")
        if isinstance(T, bool) or not isinstance(T, int):
            raise TypeError(f"T must be an int, got {type(T).__name__}")
        out = Handle()
        check(C.dfm_module_forward_dfm(self._core, x._h, int(T), float(atol), ctypes.byref(out)))
        return _wrap(out.value)

    @property
    def steps_run(self):
        """How many steps the last forward ran (upstream reads model.T)."""
        n = ctypes.c_int64()
        check(C.dfm_module_steps(self._core, ctypes.byref(n)))
        return n.value

    @property
    def checkpoint_steps(self):
        """Recompute each feedback step's activations in backward (memory nearly flat in T)."""
        on = ctypes.c_bool()
        check(C.dfm_module_checkpoint_steps(self._core, ctypes.byref(on)))
        return on.value

    @checkpoint_steps.setter
    def checkpoint_steps(self, on):
        check(C.dfm_module_set_checkpoint_steps(self._core, bool(on)))

    @property
    def bn_per_step(self):
        """Sets of per-step BatchNorm statistics (0: shared running statistics, as upstream)."""
        n = ctypes.c_int64()
        check(C.dfm_module_bn_per_step(self._core, ctypes.byref(n)))
        return n.value

    def _enable_bn_per_step(self, bn_per_step, bn_steps):
        if isinstance(bn_steps, bool) or not isinstance(bn_steps, int):
            raise TypeError(f"bn_steps must be an int, got {type(bn_steps).__name__}")
        if bn_per_step:
            check(C.dfm_module_set_bn_per_step(self._core, int(bn_steps)))
            self._refresh()  # the new per-step buffers join state_dict() and buffers()


def _dfm_resnet(arch, frontend, fb_filters, registers, n_classes, shape, tau, in_channels, state_init_std):
    h, w = _pair(shape)
    out = Handle()
    check(
        C.dfm_module_dfm_resnet(
            arch.encode(),
            str(frontend).encode(),
            int(fb_filters),
            int(registers),
            int(n_classes),
            i64_array([h, w], "shape")[0],
            float(tau),
            int(in_channels),
            float(state_init_std),
            ctypes.byref(out),
        )
    )
    return out.value


class ResNet18(_DFMModel):
    _arch = "resnet18"
    _default_shape = (64, 64)

    def __init__(
        self,
        frontend="resnet",
        fb_filters=0,
        registers=0,
        n_classes=200,
        shape=None,
        tau=1.0,
        in_channels=3,
        state_init_std=1e-3,
        bn_per_step=False,
        bn_steps=16,
    ):
        """bn_per_step: dfm's option (off by default): each BatchNorm of layer1..4 keeps bn_steps
        sets of running statistics, one per feedback step (steps past the last set share it)."""
        shape = self._default_shape if shape is None else shape
        super().__init__(
            _dfm_resnet(self._arch, frontend, fb_filters, registers, n_classes, shape, tau, in_channels, state_init_std)
        )
        self._enable_bn_per_step(bn_per_step, bn_steps)


class ResNet34(ResNet18):
    _arch = "resnet34"


class ResNet50(ResNet18):
    _arch = "resnet50"
    _default_shape = (224, 224)


class DeepLabV3Plus(_DFMModel):
    def __init__(
        self,
        in_filters=3,
        fb_filters=2,
        class_filters=256,
        registers=0,
        classes=8,
        alpha=0.2,
        tau=1.0,
        shape=(512, 512),
        block="basic",
        layers=(2, 2, 2, 2),
        aspp_dropout=0.5,
        state_init_std=1e-3,
        bn_per_step=False,
        bn_steps=16,
    ):
        if not isinstance(block, str):  # torchvision's BasicBlock / Bottleneck classes
            block = {"BasicBlock": "basic", "Bottleneck": "bottleneck"}.get(getattr(block, "__name__", ""), block)
        layers = [int(v) for v in layers]
        if len(layers) != 4:
            raise ValueError(f"layers must have 4 block counts, got {layers}")
        h, w = _pair(shape)
        out = Handle()
        check(
            C.dfm_module_dfm_deeplabv3plus(
                int(in_filters),
                int(fb_filters),
                int(class_filters),
                int(registers),
                int(classes),
                float(alpha),
                float(tau),
                i64_array([h, w], "shape")[0],
                str(block).encode(),
                i64_array(layers, "layers")[0],
                float(aspp_dropout),
                float(state_init_std),
                ctypes.byref(out),
            )
        )
        super().__init__(out.value)
        self._enable_bn_per_step(bn_per_step, bn_steps)


class ViT(_DFMModel):
    """DFM Vision Transformer (docs/MODELS.md §7): patch embedding once, feedback fused into the
    tokens, pre-norm encoder layers, StateExpDecay and the equilibrium loop, mean-pooled head."""

    def __init__(
        self,
        image_size=(28, 28),
        patch_size=4,
        in_channels=1,
        dim=128,
        depth=6,
        heads=4,
        mlp_dim=256,
        fb_filters=0,
        n_classes=10,
        tau=1.0,
        dropout=0.0,
        state_init_std=1e-3,
    ):
        h, w = _pair(image_size)
        out = Handle()
        check(
            C.dfm_module_dfm_vit(
                (ctypes.c_int64 * 2)(h, w),
                int(patch_size),
                int(in_channels),
                int(dim),
                int(depth),
                int(heads),
                int(mlp_dim),
                int(fb_filters),
                int(n_classes),
                float(tau),
                float(dropout),
                float(state_init_std),
                ctypes.byref(out),
            )
        )
        super().__init__(out.value)


def _torchvision(arch, num_classes, in_channels):
    out = Handle()
    check(C.dfm_module_resnet(arch.encode(), int(num_classes), int(in_channels), ctypes.byref(out)))
    return CoreModule(out.value)


def resnet18(num_classes=1000, in_channels=3, weights=None):
    """torchvision.models.resnet18 (random init; `weights` is not supported)."""
    if weights is not None:
        raise ValueError("dfm: pretrained weights are not available")
    return _torchvision("resnet18", num_classes, in_channels)


def resnet34(num_classes=1000, in_channels=3, weights=None):
    if weights is not None:
        raise ValueError("dfm: pretrained weights are not available")
    return _torchvision("resnet34", num_classes, in_channels)


def resnet50(num_classes=1000, in_channels=3, weights=None):
    if weights is not None:
        raise ValueError("dfm: pretrained weights are not available")
    return _torchvision("resnet50", num_classes, in_channels)
