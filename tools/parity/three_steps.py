"""Three seeded training steps of a small DFM-ResNet18 through the Python binding.

The same computation as bindings/c/tests/parity_train.c and the Swift test
CrossLanguageParityTests: prints one float32 bit pattern per step, which must be
identical in all three languages (the bindings add no arithmetic).
Run: DFM_LIBRARY=.../libdfm.so PYTHONPATH=bindings/python python3 tools/parity/three_steps.py
"""

import struct

import dfm
from dfm.models import ResNet18, ViT


def three_steps(model, prefix=""):
    """Draws x and y, then three Adam steps of T = 3: lines "<prefix>step N loss V bits B"."""
    x = dfm.randn(8, 1, 28, 28)
    y = dfm.randint(0, 10, (8,))
    opt = dfm.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(3):
        opt.zero_grad()
        loss = dfm.nn.functional.cross_entropy(model(x, T=3, atol=1e-2), y)
        loss.backward()
        opt.step()
        bits = struct.unpack("<I", struct.pack("<f", loss.item()))[0]
        print(f"{prefix}step {step} loss {loss.item():.9g} bits {bits}")


dfm.manual_seed(0)
dfm.set_num_threads(1)
three_steps(ResNet18(fb_filters=2, n_classes=10, shape=(28, 28), in_channels=1))
# The DFM-ViT, reseeded.
dfm.manual_seed(0)
three_steps(
    ViT(
        image_size=(28, 28),
        patch_size=4,
        in_channels=1,
        dim=64,
        depth=2,
        heads=4,
        mlp_dim=128,
        fb_filters=8,
        n_classes=10,
    ),
    "vit ",
)
