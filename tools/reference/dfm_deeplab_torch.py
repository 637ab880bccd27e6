"""PyTorch reference of DFM-DeepLabV3+, written from docs/MODELS.md §1–3 and §5 (dev tool).

The published file cannot be constructed, so this builds the one consistent reading
of it from torchvision's BasicBlock/Bottleneck and segmentation-models-pytorch 0.4.0's
DeepLabV3PlusDecoder and SegmentationHead, with the StateExpDecay of dfm_torch.py:

  frontend   conv 7×7/2 (in_filters→64, no bias) + BN + ReLU      (keys frontend.0/1)
  step       fb = softmax(GN_in(resize(state[:, cf:cf+fb], 2× state size)))
             x̃ = maxpool(cat(x, fb)); y = decoder(encoder(x̃))
             state += error_head(GN_err(y), t)
  encoder    torchvision layers 1..4 (layer1 takes 64+fb channels), layer4 dilated
             for output stride 16 by smp's replace_strides_with_dilation
  decoder    smp DeepLabV3PlusDecoder(out C = class_filters + fb, rates 12/24/36,
             separable ASPP, aspp_dropout); its high-res input is layer1's output
  prediction segmentation_head(state[:, :class_filters]) (1×1 conv, ×4 bilinear
             align_corners=True)

dfm additions: `state_init_std` (0 gives a zero state), `aspp_dropout`, clear errors
for H or W not divisible by 16 and for batch 1 in training. The constructor's
`alpha` is accepted and unused, as in the published file (a dead parameter there).
With fb_filters=0 (the feedforward baseline) there is no feedback and no GN_in
(GroupNorm(0, 0) cannot be built).
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from segmentation_models_pytorch.base.heads import SegmentationHead
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3PlusDecoder
from segmentation_models_pytorch.encoders._utils import replace_strides_with_dilation
from torchvision.models.resnet import BasicBlock, conv1x1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dfm_torch import StateExpDecay, run_equilibrium  # noqa: E402


class DilatedResNetEncoder(nn.Module):
    """torchvision ResNet layers 1..4 only; layer4 at stride 1 / dilation 2 (smp's make_dilated(16))."""

    def __init__(self, block, layers, in_planes):
        super().__init__()
        self.inplanes = in_planes
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        # smp's make_dilated(output_stride=16) patches stage 5 (= layer4) this way:
        # every Conv2d gets stride 1, dilation 2, padding 2·(k//2).
        replace_strides_with_dilation(self.layer4, 2)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
            )
        mods = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            mods.append(block(self.inplanes, planes))
        return nn.Sequential(*mods)

    def forward(self, x):
        l1 = self.layer1(x)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        l4 = self.layer4(l3)
        return [l1, l2, l3, l4]


class DeepLabV3Plus(nn.Module):
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
        block=BasicBlock,
        layers=(2, 2, 2, 2),
        aspp_dropout=0.5,
        state_init_std=1e-3,
    ):
        super().__init__()
        if fb_filters < 0 or class_filters <= 0 or classes <= 0 or in_filters <= 0:
            raise ValueError("DeepLabV3Plus: in_filters, class_filters and classes must be positive, fb_filters >= 0")
        e = block.expansion
        self.in_filters, self.fb_filters, self.class_filters = in_filters, fb_filters, class_filters
        self.registers, self.classes, self.shape = registers, classes, tuple(shape)
        self.state_init_std = state_init_std
        C = class_filters + fb_filters
        self.channels = C

        self.frontend = nn.Sequential(
            nn.Conv2d(in_filters, 64, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.encoder = DilatedResNetEncoder(block, list(layers), 64 + fb_filters)
        # smp's encoder_channels layout (identity, stem, layer1..4): index 2 is the high-res input.
        encoder_channels = [in_filters, 64, 64 * e, 128 * e, 256 * e, 512 * e]
        self.decoder = DeepLabV3PlusDecoder(
            encoder_channels=encoder_channels,
            encoder_depth=5,
            out_channels=C,
            atrous_rates=(12, 24, 36),
            output_stride=16,
            aspp_separable=True,
            aspp_dropout=aspp_dropout,
        )
        self.segmentation_head = SegmentationHead(
            in_channels=class_filters, out_channels=classes, activation=None, kernel_size=1, upsampling=4
        )

        self.T = nn.Parameter(torch.zeros(()), requires_grad=False)  # step counter, as upstream
        self.error_head = StateExpDecay(C, tau=tau)
        self.layernorm_error = nn.GroupNorm(C, C)
        self.layernorm_input = nn.GroupNorm(fb_filters, fb_filters) if fb_filters > 0 else None
        norms = [self.layernorm_error] + ([self.layernorm_input] if fb_filters > 0 else [])
        for gn in norms:
            nn.init.constant_(gn.weight, 1)
            nn.init.constant_(gn.bias, 0)
            gn.weight.requires_grad_(False)
            gn.bias.requires_grad_(False)

        # Encoder and frontend: torchvision's ResNet init. Decoder: PyTorch's default conv
        # init (kept). Head: smp's initialize_head (xavier uniform, bias 0).
        for m in list(self.frontend.modules()) + list(self.encoder.modules()):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.decoder.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.segmentation_head.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.t = 0
        self.steps_run = 0
        self.state = None

    def check_input(self, x):
        if x.dim() != 4:
            raise ValueError(f"DeepLabV3Plus: expected input (B, C, H, W), got shape {tuple(x.shape)}")
        B, _, H, W = x.shape
        if H % 16 or W % 16:
            raise ValueError(f"DeepLabV3Plus: input height and width must be divisible by 16, got {H}x{W}")
        if self.training and B == 1:
            raise ValueError(
                "DeepLabV3Plus: batch size 1 is not supported in training mode "
                "(BatchNorm of the ASPP pooling branch sees one value per channel)"
            )

    def init_state(self, x):
        B, _, h2, w2 = x.shape  # frontend output: H/2 × W/2; the state lives at H/4 × W/4
        shape = (B, self.channels, h2 // 2, w2 // 2)
        if self.state_init_std > 0:
            self.state = torch.randn(shape, dtype=x.dtype) * self.state_init_std
        else:
            self.state = torch.zeros(shape, dtype=x.dtype)

    def feedback(self, x):
        if self.fb_filters == 0:
            return x
        cf = self.class_filters
        ht = self.state[:, cf : cf + self.fb_filters]
        ht = F.interpolate(ht, size=(ht.shape[-2] * 2, ht.shape[-1] * 2), mode="bilinear", align_corners=False)
        ht = torch.softmax(self.layernorm_input(ht), dim=1)
        return torch.cat([x, ht], dim=1)

    def step(self, x):
        xt = self.maxpool(self.feedback(x))
        features = self.encoder(xt)
        y = self.decoder(None, None, *features)  # smp reads features[2] (layer1) and features[-1] (layer4)
        self.state = self.state + self.error_head(self.layernorm_error(y), self.t)
        self.t += 1

    def prediction(self):
        return self.segmentation_head(self.state[:, : self.class_filters])

    def forward(self, x, T=0, atol=1e-2):
        self.check_input(x)
        x = self.frontend(x)
        run_equilibrium(self, x, T, atol)
        return self.prediction()
