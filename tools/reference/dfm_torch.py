"""PyTorch reference of the DFM ResNets, written from docs/MODELS.md §2–4 (dev tool).

This is our own implementation on torchvision's BasicBlock/Bottleneck, with dfm's
decisions where the published package breaks (R1 state sized from layer4's real
output, R2 gcd(8, C) GroupNorm groups, R3 feedback resized to the frontend's real
output, R4 unbatched input) and `state_init_std` (0 gives a zero initial state).
Wherever the published package runs, this computes what it computes; the dfm Swift
models are tested against it (tools/fixtures/models_resnet.py).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1


class _ExpDecay(torch.autograd.Function):
    """z · exp(t·T·Delta), Delta = -(1/tau)·|S|^alpha over the last (channel) dim.

    As the published custom function: the input's gradient is grad · exp(t·Delta)
    and S, T, alpha, tau get no gradient."""

    @staticmethod
    def forward(ctx, z, S, T, alpha, tau, t):
        delta = -(1.0 / tau) * S.abs() ** alpha
        ctx.save_for_backward(torch.exp(t * delta))
        return z * torch.exp(t * T * delta)

    @staticmethod
    def backward(ctx, g):
        (f,) = ctx.saved_tensors
        return g * f, None, None, None, None, None


class StateExpDecay(nn.Module):
    def __init__(self, channels, tau=1.0):
        super().__init__()
        self.tau = nn.Parameter(torch.tensor(float(tau)), requires_grad=False)
        self.T = nn.Parameter(torch.tensor(1.0), requires_grad=False)
        self.alpha = nn.Parameter(torch.tensor(1.0), requires_grad=False)
        self.S = nn.Parameter(torch.ones(channels), requires_grad=False)
        self.Q = nn.Parameter(torch.empty(channels, channels))
        self.Qinv = nn.Parameter(torch.empty(channels, channels))  # unused; kept for checkpoint keys
        nn.init.orthogonal_(self.Q)
        nn.init.orthogonal_(self.Qinv)

    def forward(self, x, t):
        if self.training and t == 0:
            # Re-orthogonalise: Q := Q factor of its complete QR (LAPACK, no sign fix).
            with torch.no_grad():
                self.Q.copy_(torch.linalg.qr(self.Q, mode="complete")[0])
        z = x.permute(0, 2, 3, 1) @ self.Q.t()
        z = _ExpDecay.apply(z, self.S, self.T, self.alpha, self.tau, t)
        return (z @ self.Q).permute(0, 3, 1, 2)


def _down2(n):
    """Output size of a stride-2 3×3/pad-1 conv (and of a stride-2 1×1 conv)."""
    return (n - 1) // 2 + 1


class DFMResNet(nn.Module):
    def __init__(
        self,
        block,
        layers,
        frontend="resnet",
        fb_filters=0,
        registers=0,
        n_classes=200,
        shape=(64, 64),
        tau=1.0,
        in_channels=3,
        state_init_std=1e-3,
    ):
        super().__init__()
        if frontend != "resnet":
            raise ValueError(f"DFMResNet: frontend must be 'resnet', got {frontend!r}")
        e = block.expansion
        self.e, self.fb, self.shape, self.registers = e, fb_filters, tuple(shape), registers
        self.state_init_std = state_init_std
        self.channels = (512 + fb_filters) * e
        self._norm_layer = nn.BatchNorm2d
        self.groups, self.base_width, self.dilation = 1, 64, 1

        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = 64 + fb_filters * e
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512 + fb_filters, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * e, n_classes)
        self.frontend = nn.Sequential(self.conv1, self.bn1, self.relu, self.maxpool)
        self.classification_head = nn.Sequential(self.avgpool, nn.Flatten(), self.fc)

        C, fbc = self.channels, fb_filters * e
        self.T = nn.Parameter(torch.tensor(1.0), requires_grad=False)  # steps of the last forward
        self.layernorm_weight = nn.Parameter(torch.zeros(1, C, 1, 1))  # unused; kept for checkpoint keys
        self.layernorm_error = nn.GroupNorm(math.gcd(8, C), C)
        self.layernorm_input = nn.GroupNorm(math.gcd(8, fbc), fbc)
        for p in list(self.layernorm_error.parameters()) + list(self.layernorm_input.parameters()):
            p.requires_grad_(False)
        self.error_head = StateExpDecay(C, tau=tau)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        nn.init.kaiming_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)
        self.t = 0
        self.steps_run = 0
        self.state = None

    def _make_layer(self, block, planes, blocks, stride=1):
        # torchvision's ResNet._make_layer (no dilation, groups 1, width 64).
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def init_state(self, x):
        B, _, H, W = x.shape
        h4, w4 = _down2(_down2(_down2(H))), _down2(_down2(_down2(W)))  # R1: layer4's real output
        shape = (B, self.channels, h4, w4)
        if self.state_init_std > 0:
            self.state = torch.randn(shape, dtype=x.dtype) * self.state_init_std
        else:
            self.state = torch.zeros(shape, dtype=x.dtype)

    def feedback(self, x):
        if self.fb == 0:
            return x
        fb = self.state[:, 512 * self.e :]
        fb = F.interpolate(fb, size=x.shape[-2:], mode="bilinear", align_corners=False)  # R3
        fb = torch.softmax(self.layernorm_input(fb), dim=1)
        return torch.cat([x, fb], dim=1)

    def step(self, x):
        y = self.layer4(self.layer3(self.layer2(self.layer1(self.feedback(x)))))
        self.state = self.state + self.error_head(self.layernorm_error(y), self.t)
        self.t += 1

    def prediction(self):
        return self.classification_head(self.state[:, : 512 * self.e])

    def forward(self, x, T=0, atol=1e-2):
        unbatched = x.dim() == 3  # R4
        if unbatched:
            x = x.unsqueeze(0)
        x = self.frontend(x)
        run_equilibrium(self, x, T, atol)
        out = self.prediction()
        return out.squeeze(0) if unbatched else out


def run_equilibrium(model, x, T, atol):
    """docs/MODELS.md §3 on `model` (its init_state, step, state, T): up to T-1 steps, stopping once
    |Σ|state| - previous| <= atol, then one more step. Sets and returns the steps run."""
    model.t = 0
    model.init_state(x)
    steps = 0
    if T > 0:
        e_prev = math.inf
        for _ in range(T - 1):
            model.step(x)
            steps += 1
            e = model.state.abs().sum().item()
            if abs(e - e_prev) <= atol:
                break
            e_prev = e
        model.step(x)
        steps += 1
    model.steps_run = steps
    with torch.no_grad():
        model.T.fill_(float(steps))  # upstream reads model.T for the steps run
    return steps


def ResNet18(
    frontend="resnet",
    fb_filters=0,
    registers=0,
    n_classes=200,
    shape=(64, 64),
    tau=1.0,
    in_channels=3,
    state_init_std=1e-3,
):
    return DFMResNet(
        BasicBlock, [2, 2, 2, 2], frontend, fb_filters, registers, n_classes, shape, tau, in_channels, state_init_std
    )


def ResNet34(
    frontend="resnet",
    fb_filters=0,
    registers=0,
    n_classes=200,
    shape=(64, 64),
    tau=1.0,
    in_channels=3,
    state_init_std=1e-3,
):
    return DFMResNet(
        BasicBlock, [3, 4, 6, 3], frontend, fb_filters, registers, n_classes, shape, tau, in_channels, state_init_std
    )


def ResNet50(
    frontend="resnet",
    fb_filters=0,
    registers=0,
    n_classes=200,
    shape=(224, 224),
    tau=1.0,
    in_channels=3,
    state_init_std=1e-3,
):
    return DFMResNet(
        Bottleneck, [3, 4, 6, 3], frontend, fb_filters, registers, n_classes, shape, tau, in_channels, state_init_std
    )


MODELS = {"resnet18": ResNet18, "resnet34": ResNet34, "resnet50": ResNet50}
