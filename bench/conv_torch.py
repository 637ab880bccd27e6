"""Times conv2d forward+backward in PyTorch on the shapes of bench/DFMBench/main.swift
(same threads, best of `reps` after one warm-up, input and weight gradients, no bias).
Usage: python bench/conv_torch.py [--threads 2] [--reps 5] [--tsv out.tsv]"""

import argparse
import time

import torch
import torch.nn.functional as F

# (name, n, c, h, w, o, k, stride, pad): keep identical to the Swift list.
SHAPES = [
    ("stem 7x7/2 3->64 @64x64 b32", 32, 3, 64, 64, 64, 7, 2, 3),
    ("3x3 64->64 @32x32 b32", 32, 64, 32, 32, 64, 3, 1, 1),
    ("3x3 64->64 @16x16 b32", 32, 64, 16, 16, 64, 3, 1, 1),
    ("3x3 128->128 @8x8 b32", 32, 128, 8, 8, 128, 3, 1, 1),
    ("3x3 512->512 @4x4 b32", 32, 512, 4, 4, 512, 3, 1, 1),
    ("3x3 512->512 @2x2 b32", 32, 512, 2, 2, 512, 3, 1, 1),
    ("3x3 512->512 @1x1 b32", 32, 512, 1, 1, 512, 3, 1, 1),
    ("1x1/2 64->128 @32x32 b32", 32, 64, 32, 32, 128, 1, 2, 0),
    ("1x1/2 256->512 @8x8 b32", 32, 256, 8, 8, 512, 1, 2, 0),
]

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--tsv")
args = ap.parse_args()
torch.set_num_threads(args.threads)
g = torch.Generator().manual_seed(0)
lines = []
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, best of {args.reps}")
for name, n, c, h, w, o, k, s, p in SHAPES:
    x = torch.randn(n, c, h, w, generator=g).requires_grad_()
    wt = torch.randn(o, c, k, k, generator=g).requires_grad_()
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    gy = torch.randn(n, o, oh, ow, generator=g)
    best = float("inf")
    for rep in range(args.reps + 1):
        x.grad = None
        wt.grad = None
        t0 = time.perf_counter()
        y = F.conv2d(x, wt, stride=s, padding=p)
        y.backward(gy)
        t1 = time.perf_counter()
        if rep > 0:
            best = min(best, t1 - t0)
    flops = 3 * 2 * n * o * oh * ow * c * k * k
    print(f"{name:30s} {best * 1e3:9.2f} ms {flops / best * 1e-9:8.1f} GFLOP/s")
    lines.append(f"{name}\t{best * 1e3}\n")
if args.tsv:
    with open(args.tsv, "w") as fh:
        fh.writelines(lines)
