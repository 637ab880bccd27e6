"""Per-step BatchNorm statistics (issue 19) through the Python binding: off by default, the
option adds per-step buffers that training fills step by step, and a checkpoint of the other
mode is refused with a message naming bn_per_step."""

import dfm
import numpy as np
import pytest
from dfm.models import ResNet18, ViT


def _train(m, steps=2, size=16):
    dfm.manual_seed(3)
    x, y = dfm.rand(4, 1, size, size), dfm.randint(0, 3, (4,))
    opt = dfm.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = dfm.nn.functional.cross_entropy(m(x, T=3, atol=0.0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _model(size=16, **kw):
    dfm.manual_seed(1)
    return ResNet18(fb_filters=2, n_classes=3, shape=(size, size), in_channels=1, **kw)


def test_off_by_default_and_training_unchanged():
    off, on = _model(), _model(bn_per_step=True, bn_steps=3)
    assert off.bn_per_step == 0 and on.bn_per_step == 3
    assert not any("per_step" in k for k in off.state_dict())
    assert "layer1.0.bn1.running_mean_per_step" in on.state_dict()
    assert _train(off) == _train(on)  # batch statistics in training: bitwise the same losses


def test_sets_fill_per_step_and_eval_uses_them():
    # 64×64: the state is 2×2, so the feedback varies between steps (at 1×1 it is the uniform
    # softmax at every step and the sets coincide: BNPerStepTests in Swift).
    m = _model(64, bn_per_step=True, bn_steps=4)
    _train(m, size=64)
    sd = m.state_dict()
    assert np.asarray(sd["layer2.0.bn1.num_batches_tracked_per_step"]).tolist() == [2, 2, 2, 0]
    means = np.asarray(sd["layer1.0.bn1.running_mean_per_step"])
    assert np.abs(means[0] - means[1]).max() > 1e-4
    m.eval()
    x = dfm.rand(2, 1, 64, 64)
    dfm.manual_seed(5)
    a = np.asarray(m(x, T=3, atol=0.0).detach())
    # Overwrite every set with the shared statistics: eval changes, so it read the sets.
    for k, v in sd.items():
        if k.endswith("running_mean_per_step") or k.endswith("running_var_per_step"):
            shared = np.asarray(sd[k.replace("_per_step", "")])
            v.copy_(dfm.tensor(np.tile(shared, (v.shape[0], 1))))
    dfm.manual_seed(5)
    b = np.asarray(m(x, T=3, atol=0.0).detach())
    assert np.abs(a - b).max() > 0


def test_checkpoint_round_trip_and_mode_mismatch(tmp_path):
    m = _model(bn_per_step=True, bn_steps=3)
    _train(m, 1)
    m.save(tmp_path / "on.safetensors")
    back = _model(bn_per_step=True, bn_steps=3)
    back.load_state_dict(dfm.load_file(str(tmp_path / "on.safetensors")))
    m.eval()
    back.eval()
    x = dfm.rand(2, 1, 16, 16)
    dfm.manual_seed(2)
    a = np.asarray(m(x, T=5, atol=0.0).detach())
    dfm.manual_seed(2)
    np.testing.assert_array_equal(np.asarray(back(x, T=5, atol=0.0).detach()), a)
    with pytest.raises(RuntimeError, match="bn_per_step"):
        _model().load_state_dict(m.state_dict())
    with pytest.raises(RuntimeError, match="bn_per_step"):
        _model(bn_per_step=True, bn_steps=3).load_state_dict(_model().state_dict())


def test_bad_arguments():
    with pytest.raises(TypeError):
        _model(bn_per_step=True, bn_steps=2.5)
    with pytest.raises(ValueError, match="1...1000"):
        _model(bn_per_step=True, bn_steps=0)
    vit = ViT(image_size=8, patch_size=4, dim=8, depth=1, heads=2, mlp_dim=16, fb_filters=2, n_classes=3)
    with pytest.raises(TypeError, match="no BatchNorm"):
        vit._enable_bn_per_step(True, 2)
