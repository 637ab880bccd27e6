"""DFM-DeepLabV3+ and its feedforward counterpart on Fashion-MNIST segmentation scenes.

Each scene puts 2-4 garments on a 64x64 canvas; every garment pixel is labelled with
its class + 1 (background 0). Trains both models with the same seed and budget and
reports the test mIoU.

    swift build -c release --product dfm
    DFM_LIBRARY=$(swift build -c release --show-bin-path)/libdfm.so PYTHONPATH=bindings/python \
        python3 examples/segmentation_scenes.py --train 800 --test 200 --epochs 2
"""

import argparse
import time

import dfm
import dfm.nn.functional as F
from dfm.datasets import SegmentationScenes
from dfm.models import DeepLabV3Plus


def evaluate(model, scenes, T, batch_size):
    model.eval()
    confusion = None
    with dfm.no_grad():
        for start in range(0, len(scenes), batch_size):
            x, y = scenes.batch(range(start, min(len(scenes), start + batch_size)))
            c = dfm.metrics.confusion_matrix(model(x, T=T), y, scenes.num_classes)
            confusion = c if confusion is None else confusion + c
    model.train()
    cm = confusion.numpy().astype("float64")
    tp = cm.diagonal()
    denom = cm.sum(0) + cm.sum(1) - tp
    present = denom > 0
    return float((tp[present] / denom[present]).mean())


def run(name, fb_filters, T, args, train, test):
    dfm.manual_seed(args.seed)
    model = DeepLabV3Plus(
        in_filters=1, fb_filters=fb_filters, class_filters=args.class_filters, classes=train.num_classes, shape=(64, 64)
    )
    opt = dfm.optim.Adam(model.parameters(), lr=args.lr)
    t0 = time.time()
    for epoch in range(args.epochs):
        perm = dfm.randperm(len(train)).tolist()
        losses = []
        for start in range(0, len(perm) - args.batch_size + 1, args.batch_size):
            x, y = train.batch(perm[start : start + args.batch_size])
            opt.zero_grad()
            loss = F.cross_entropy(model(x, T=T), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        print(
            f"{name}: epoch {epoch + 1} mean loss {sum(losses) / len(losses):.4f} "
            f"(first {losses[0]:.3f}, last {losses[-1]:.3f}), {time.time() - t0:.0f} s",
            flush=True,
        )
    miou = evaluate(model, test, T, args.batch_size)
    print(f"{name}: test mIoU {100 * miou:.2f}% on {len(test)} scenes", flush=True)
    return miou


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=800)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--class-filters", type=int, default=32)
    p.add_argument("--T", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    dfm.manual_seed(args.seed)
    train = SegmentationScenes(train=True, count=args.train, seed=args.seed)
    test = SegmentationScenes(train=False, count=args.test, seed=args.seed + 1)
    dfm_miou = run(f"DFM (fb 2, T {args.T})", 2, args.T, args, train, test)
    ff_miou = run("feedforward", 0, 1, args, train, test)
    print(
        f"\n| model | test mIoU |\n|---|---|\n| DFM (fb 2, T {args.T}) | {100 * dfm_miou:.2f}% |\n"
        f"| feedforward | {100 * ff_miou:.2f}% |"
    )


if __name__ == "__main__":
    main()
