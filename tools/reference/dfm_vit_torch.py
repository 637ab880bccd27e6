"""PyTorch reference of the DFM Vision Transformer, docs/MODELS.md §7 (dev tool).

Built from torch.nn parts only (Conv2d, TransformerEncoderLayer(norm_first=True,
activation="gelu", batch_first=True), LayerNorm, Linear) plus the StateExpDecay and the
equilibrium loop of dfm_torch.py, which it shares with the ResNets. A dfm ViT checkpoint
loads into it strictly (same state_dict keys) and it computes the same numbers: the dfm
Swift model is tested against it (tools/fixtures/models_vit.py).
"""

import torch
import torch.nn as nn
from dfm_torch import StateExpDecay, run_equilibrium


class _ChannelsLastDecay(StateExpDecay):
    """StateExpDecay (§2) over the last dim of tokens (B, N, C): no NCHW permutes."""

    def forward(self, x, t):
        if self.training and t == 0:
            with torch.no_grad():
                self.Q.copy_(torch.linalg.qr(self.Q, mode="complete")[0])
        from dfm_torch import _ExpDecay

        z = _ExpDecay.apply(x @ self.Q.t(), self.S, self.T, self.alpha, self.tau, t)
        return z @ self.Q


class ViT(nn.Module):
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
        super().__init__()
        H, W = image_size
        if H % patch_size or W % patch_size:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {patch_size}")
        self.dim, self.fb, self.p = dim, fb_filters, patch_size
        self.n = (H // patch_size) * (W // patch_size)
        self.channels = C = dim + fb_filters
        self.state_init_std = state_init_std
        self.T = nn.Parameter(torch.tensor(1.0), requires_grad=False)
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n, dim))
        if fb_filters > 0:
            self.fuse = nn.Linear(C, dim)
        self.blocks = nn.ModuleList(
            [
                nn.TransformerEncoderLayer(
                    dim,
                    heads,
                    dim_feedforward=mlp_dim,
                    dropout=dropout,
                    activation="gelu",
                    batch_first=True,
                    norm_first=True,
                )
                for _ in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(dim)
        self.state_proj = nn.Linear(dim, C)
        self.layernorm_error = nn.LayerNorm(C)
        if fb_filters > 0:
            self.layernorm_input = nn.LayerNorm(fb_filters)
        self.error_head = _ChannelsLastDecay(C, tau=tau)
        self.head_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)
        frozen = list(self.layernorm_error.parameters())
        if fb_filters > 0:
            frozen += list(self.layernorm_input.parameters())
        for p in frozen:
            p.requires_grad_(False)
        nn.init.trunc_normal_(self.patch_embed.weight, std=0.02)
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.t = 0
        self.steps_run = 0
        self.state = None

    def frontend(self, x):
        return self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed

    def init_state(self, x):
        shape = (x.shape[0], self.n, self.channels)
        if self.state_init_std > 0:
            self.state = torch.randn(shape, dtype=x.dtype) * self.state_init_std
        else:
            self.state = torch.zeros(shape, dtype=x.dtype)

    def feedback(self, x):
        if self.fb == 0:
            return x
        f = torch.softmax(self.layernorm_input(self.state[..., self.dim :]), dim=-1)
        return self.fuse(torch.cat([x, f], dim=-1))

    def step(self, x):
        z = self.feedback(x)
        for blk in self.blocks:
            z = blk(z)
        y = self.state_proj(self.norm(z))
        self.state = self.state + self.error_head(self.layernorm_error(y), self.t)
        self.t += 1

    def prediction(self):
        return self.head(self.head_norm(self.state[..., : self.dim].mean(dim=1)))

    def forward(self, x, T=0, atol=1e-2):
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        x = self.frontend(x)
        run_equilibrium(self, x, T, atol)
        out = self.prediction()
        return out.squeeze(0) if unbatched else out
