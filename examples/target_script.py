# The published package's MNIST example (docs/PYTHON_API.md), run with `import dfm as torch`.
# Run: swift build -c release --product dfm
#      DFM_LIBRARY=$(swift build -c release --show-bin-path)/libdfm.so PYTHONPATH=bindings/python python3 examples/target_script.py
import dfm as torch
from dfm import datasets, transforms
from dfm.models import ResNet18

device = "cpu"
train_set = datasets.FashionMNIST(train=True, transform=transforms.ToTensor())
test_set = datasets.FashionMNIST(train=False, transform=transforms.ToTensor())
train_loader = torch.utils.data.DataLoader(train_set, batch_size=32, shuffle=True)

model = ResNet18(frontend="resnet", fb_filters=10, n_classes=10, shape=(28, 28), tau=1e0, in_channels=1)
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
model.to(device)
for epoch in range(10):
    model.train(True)
    for imgs, targets in train_loader:
        imgs = imgs.to(device=device)
        targets = targets.to(device=device)
        optimizer.zero_grad()
        loss = loss_fn(model(imgs, T=5), targets)
        loss.backward()
        optimizer.step()
test_loss = 0.0
for x, y in test_set:
    test_loss += loss_fn(model(x, T=5), y).item()
print("Test loss:", test_loss / len(test_set))
