"""Why the published MNIST example's test loss is high: BatchNorm's running statistics in a DFM.

The published MNIST example (examples/target_script.py) never calls eval(), so its test loop feeds
single unbatched images to a model in training mode. PyTorch rejects that (training-mode
BatchNorm sees one value per channel in layer4); dfm normalises such a sample with the
running statistics (README, R4), i.e. as in eval mode. In a DFM those running statistics
average over all T feedback steps of every batch, while training normalises each step
with its own batch statistics, so eval-mode predictions are far worse than the weights
allow. This script trains the target model briefly (9,600 images, the script's settings)
and compares, on 300 test images, the script's unbatched loop, eval mode on a batch, and
training mode on a batch.

Run: DFM_LIBRARY=$(swift build -c release --show-bin-path)/libdfm.so PYTHONPATH=bindings/python \
         python3 examples/target_eval_modes.py
"""

import time

import dfm as torch
from dfm import datasets, transforms
from dfm.models import ResNet18

torch.manual_seed(0)
train_set = datasets.FashionMNIST(train=True, transform=transforms.ToTensor())
test_set = datasets.FashionMNIST(train=False, transform=transforms.ToTensor())
loader = torch.utils.data.DataLoader(torch.utils.data.Subset(train_set, list(range(9600))), batch_size=32, shuffle=True)
model = ResNet18(frontend="resnet", fb_filters=10, n_classes=10, shape=(28, 28), tau=1e0, in_channels=1)
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

start, losses = time.time(), []
model.train(True)
for step, (imgs, targets) in enumerate(loader):
    optimizer.zero_grad()
    loss = loss_fn(model(imgs, T=5), targets)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 50 == 0:
        print(
            f"step {step}: mean training loss of the last 50 steps {sum(losses[-50:]) / len(losses[-50:]):.3f}",
            flush=True,
        )
print(f"trained {len(losses)} steps in {time.time() - start:.0f} s")

n = 300
xs = torch.stack([test_set[i][0] for i in range(n)])
ys = torch.tensor([test_set[i][1] for i in range(n)])
with torch.no_grad():
    unbatched = sum(loss_fn(model(test_set[i][0], T=5), test_set[i][1]).item() for i in range(n)) / n
    model.eval()
    logits = model(xs, T=5)
    eval_loss, eval_acc = loss_fn(logits, ys).item(), (logits.argmax(1) == ys).float().mean().item()
    model.train(True)
    logits = model(xs, T=5)
    train_loss, train_acc = loss_fn(logits, ys).item(), (logits.argmax(1) == ys).float().mean().item()
print(
    f"test loss on {n} images: the script's unbatched loop {unbatched:.4f} | eval mode, batched {eval_loss:.4f} "
    f"(accuracy {eval_acc:.3f}) | training mode, batched {train_loss:.4f} (accuracy {train_acc:.3f})"
)
