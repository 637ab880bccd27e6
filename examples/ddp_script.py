# Data-parallel training from Python, torch's way: one process per rank under MPI.
# Run: swift build -c release --product dfm
#      DFM_LIBRARY=$(swift build -c release --show-bin-path)/libdfm.so PYTHONPATH=bindings/python \
#        mpirun --allow-run-as-root --oversubscribe -np 2 python3 examples/ddp_script.py [--subset N] [--epochs E]
# Every rank reads its share of the training set (DistributedSampler), DistributedDataParallel
# averages the gradients; after every step the script checks that all ranks hold bitwise the
# same parameters, and rank 0 reports progress and the test accuracy (evaluated in shards).
import argparse
import hashlib

import dfm as torch
import dfm.distributed as dist
import numpy as np
from dfm import datasets, transforms
from dfm.models import ResNet18
from dfm.nn.parallel import DistributedDataParallel as DDP
from dfm.utils.data import DataLoader, DistributedSampler, Subset

ap = argparse.ArgumentParser()
ap.add_argument("--subset", type=int, default=2048, help="training images (0 = all)")
ap.add_argument("--test-subset", type=int, default=1000)
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--batch-size", type=int, default=32, help="per rank")
args = ap.parse_args()

dist.init_process_group(backend="mpi")
rank, world = dist.get_rank(), dist.get_world_size()
torch.set_num_threads(1)
torch.manual_seed(rank)  # any seed: DDP starts every rank from rank 0's weights

train_set = datasets.FashionMNIST(train=True, transform=transforms.ToTensor())
test_set = datasets.FashionMNIST(train=False, transform=transforms.ToTensor())
if args.subset:
    train_set = Subset(train_set, range(args.subset))
test_set = Subset(test_set, range(args.test_subset))
sampler = DistributedSampler(train_set, shuffle=True, seed=0)
loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)

model = DDP(ResNet18(frontend="resnet", fb_filters=4, n_classes=10, shape=(28, 28), in_channels=1))
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)


def params_digest():
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().numpy().tobytes())
    return torch.from_numpy(np.frombuffer(h.digest(), dtype=np.uint8).copy())


for epoch in range(args.epochs):
    sampler.set_epoch(epoch)
    model.train()
    for step, (imgs, targets) in enumerate(loader):
        optimizer.zero_grad()
        loss = loss_fn(model(imgs, T=3), targets)
        loss.backward()
        optimizer.step()
        digests = [torch.zeros(32, dtype=torch.uint8) for _ in range(world)]
        dist.all_gather(digests, params_digest())
        assert all(torch.equal(digests[0], d) for d in digests), f"step {step}: ranks differ"
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss, op=dist.ReduceOp.AVG)
        if rank == 0 and step % 10 == 0:
            print(
                f"epoch {epoch + 1} step {step + 1}/{len(loader)}: loss {mean_loss.item():.4f} "
                f"(parameters identical on {world} ranks)",
                flush=True,
            )

# Sharded evaluation: each rank scores its part, the counts are summed. Each rank's BatchNorm
# statistics hold its own last batch: take rank 0's first, as a single process would have.
for b in model.buffers():
    dist.broadcast(b, src=0)
model.eval()
correct = torch.zeros(2, dtype=torch.int64)
with torch.no_grad():
    for imgs, targets in DataLoader(
        test_set, batch_size=100, sampler=DistributedSampler(test_set, shuffle=False, drop_last=True)
    ):
        correct[0] += int((model(imgs, T=3).argmax(1) == targets).sum())
        correct[1] += len(targets)
dist.all_reduce(correct)
if rank == 0:
    print(f"test accuracy {100 * correct[0].item() / correct[1].item():.2f}% on {correct[1].item()} images")
dist.destroy_process_group()
