"""mpirun -np 2: trains with DDP until killed; rank 0 writes a checkpoint (safetensors, atomic)
after every step; each rank writes its pid to <dir>/pid.<rank> once training runs. argv[1]: dir."""

import os
import sys

from _setup import dfm, dist

dist.init_process_group(backend="mpi")
r = dist.get_rank()
out = sys.argv[1]
nn = dfm.nn
dfm.manual_seed(0)
model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4))
ddp = nn.parallel.DistributedDataParallel(model)
opt = dfm.optim.SGD(ddp.parameters(), lr=0.01)
for step in range(100000):
    x, y = dfm.randn(16, 32), dfm.randint(0, 4, (16,))
    loss = nn.functional.cross_entropy(ddp(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if r == 0:
        dfm.save_file(model.state_dict(), os.path.join(out, "last.safetensors"), metadata={"step": str(step)})
    if step == 2:
        with open(os.path.join(out, f"pid.{r}.tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(os.path.join(out, f"pid.{r}.tmp"), os.path.join(out, f"pid.{r}"))
