"""The transformer pieces and DFM-ViT through the Python binding: the core's multi-head
attention behind nn.MultiheadAttention, torch's module names, and a short ViT training run on Fashion-MNIST."""

import os

import dfm
import dfm.nn as nn
import dfm.nn.functional as F
import numpy as np
import pytest
from dfm.models import ViT

ROOT = "/usr/share/datasets/fashion-mnist"


def test_multihead_attention_is_the_core_op():
    dfm.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = dfm.randn(3, 5, 8, requires_grad=True)
    out, w = m(x, x, x)
    assert tuple(out.shape) == (3, 5, 8) and tuple(w.shape) == (3, 5, 5)
    ref, _ = F.multi_head_attention_forward(
        x,
        x,
        x,
        2,
        m.in_proj_weight,
        m.in_proj_bias,
        m.out_proj.weight,
        m.out_proj.bias,
        batch_first=True,
        need_weights=False,
    )
    np.testing.assert_array_equal(np.asarray(out.detach()), np.asarray(ref.detach()))
    (out.sum() + w.sum()).backward()
    assert x.grad is not None and m.in_proj_weight.grad is not None
    np.testing.assert_allclose(np.asarray(w.detach()).sum(-1), 1.0, rtol=1e-5)
    # key padding: the masked key gets no weight.
    kpm = dfm.tensor(np.array([[False, False, False, False, True]] * 3))
    _, w = m(x, x, x, key_padding_mask=kpm)
    assert float(np.abs(np.asarray(w.detach())[..., 4]).max()) == 0.0
    with pytest.raises(Exception, match="divisible"):
        nn.MultiheadAttention(6, 4)


def test_sdpa_and_gelu_tanh():
    dfm.manual_seed(1)
    q, k, v = dfm.randn(2, 4, 8), dfm.randn(2, 6, 8), dfm.randn(2, 6, 3)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 6), dtype=bool))
    np.testing.assert_allclose(np.asarray(out), np.asarray(F.scaled_dot_product_attention(q, k, v)), rtol=1e-6)
    x = np.linspace(-3, 3, 7).astype(np.float32)
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(np.asarray(F.gelu(dfm.tensor(x), approximate="tanh")), want, rtol=1e-5, atol=1e-6)


def test_transformer_encoder_names_and_copies():
    layer = nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
    names = [n for n, _ in enc.named_parameters()]
    assert names[:4] == [
        "layers.0.self_attn.in_proj_weight",
        "layers.0.self_attn.in_proj_bias",
        "layers.0.self_attn.out_proj.weight",
        "layers.0.self_attn.out_proj.bias",
    ]
    assert "layers.1.linear2.bias" in names and names[-2:] == ["norm.weight", "norm.bias"]
    sd = enc.state_dict()
    np.testing.assert_array_equal(np.asarray(sd["layers.0.linear1.weight"]), np.asarray(sd["layers.1.linear1.weight"]))
    y = enc(dfm.randn(2, 5, 8))
    assert tuple(y.shape) == (2, 5, 8)


def test_vit_contract():
    dfm.manual_seed(2)
    m = ViT(image_size=(8, 8), patch_size=2, in_channels=1, dim=8, depth=1, heads=2, mlp_dim=16, fb_filters=2)
    keys = set(m.state_dict())
    for k in [
        "patch_embed.weight",
        "pos_embed",
        "fuse.weight",
        "blocks.0.self_attn.in_proj_weight",
        "norm.bias",
        "state_proj.weight",
        "layernorm_error.weight",
        "layernorm_input.bias",
        "error_head.Qinv",
        "head_norm.weight",
        "head.bias",
        "T",
    ]:
        assert k in keys, k
    out = m(dfm.randn(1, 8, 8), T=4, atol=1e9)
    assert tuple(out.shape) == (10,) and m.steps_run == 3
    m.checkpoint_steps = True
    assert m.checkpoint_steps
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        ViT(image_size=(28, 30), patch_size=4)
    with pytest.raises(Exception, match="patch size"):
        m(dfm.randn(1, 1, 9, 9), T=1)


@pytest.mark.skipif(not os.path.isdir(ROOT), reason="needs the Debian fashion-mnist package")
def test_issue_vit_trains_on_fashion_mnist():
    from dfm import datasets, transforms

    dfm.manual_seed(0)
    ds = datasets.FashionMNIST(train=True, transform=transforms.ToTensor())
    x = dfm.stack([ds[i][0] for i in range(32)])
    y = dfm.tensor([ds[i][1] for i in range(32)])
    model = ViT(
        image_size=(28, 28),
        patch_size=4,
        in_channels=1,
        dim=64,
        depth=2,
        heads=4,
        mlp_dim=128,
        fb_filters=8,
        n_classes=10,
    )
    opt = dfm.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(model(x, T=3), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.2, losses
