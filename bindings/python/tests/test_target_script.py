"""The published MNIST example of docs/PYTHON_API.md (examples/target_script.py), shortened only in data size: a few hundred training
images, one epoch, a small test subset. Everything else is the script as written."""

import math
import os

ROOT = "/usr/share/datasets/fashion-mnist"


def test_target_script_shortened():
    # No skips: CI installs Debian's dataset-fashion-mnist (tools/setup.sh), and the library must export
    # the models. Checked here, not at import, so a missing piece is this test's failure, not a
    # collection error that hides the other tests' results.
    assert os.path.isdir(ROOT), f"{ROOT} missing: apt-get install dataset-fashion-mnist"
    from dfm import _lib

    assert _lib.has("dfm_module_dfm_resnet"), "libdfm does not export dfm_module_dfm_resnet"

    import dfm as torch
    from dfm import datasets, transforms
    from dfm.models import ResNet18

    torch.manual_seed(0)
    device = "cpu"
    train_set = datasets.FashionMNIST(train=True, transform=transforms.ToTensor())
    test_set = datasets.FashionMNIST(train=False, transform=transforms.ToTensor())
    train_set = torch.utils.data.Subset(train_set, range(320))  # shortened
    test_set = torch.utils.data.Subset(test_set, range(20))  # shortened
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=32, shuffle=True)

    model = ResNet18(frontend="resnet", fb_filters=10, n_classes=10, shape=(28, 28), tau=1e0, in_channels=1)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.to(device)
    losses = []
    for epoch in range(1):  # shortened
        model.train(True)
        for imgs, targets in train_loader:
            imgs = imgs.to(device=device)
            targets = targets.to(device=device)
            optimizer.zero_grad()
            loss = loss_fn(model(imgs, T=5), targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    test_loss = 0.0
    for x, y in test_set:
        test_loss += loss_fn(model(x, T=5), y).item()
    print("Test loss:", test_loss / len(test_set))

    assert len(losses) == 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, f"training loss did not fall: {losses}"
    assert math.isfinite(test_loss / len(test_set)), f"test loss is not finite: {test_loss}"
