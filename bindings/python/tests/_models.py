"""A small CNN defined in Python (subclassing dfm.nn.Module) used by several tests."""

import dfm
import dfm.nn as nn
import dfm.nn.functional as F


class SmallNet(nn.Module):
    def __init__(self, channels=4, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * 4 * 4, classes))

    def forward(self, x):
        return self.head(self.pool(F.relu(self.bn(self.conv(x)))))


def synthetic_batches(seed, steps, batch=8):
    """Deterministic (x, y) batches: 8×8 images whose class is the brightest quadrant."""
    dfm.manual_seed(seed)
    out = []
    for _ in range(steps):
        x = dfm.rand(batch, 1, 8, 8)
        y = dfm.randint(0, 4, (batch,))
        out.append((x, y))
    return out


def train(seed, steps, batches=None):
    dfm.manual_seed(seed)
    model = SmallNet(classes=4)
    opt = dfm.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]
