"""torchvision.datasets MNIST / FashionMNIST from IDX files (gzip or raw).

Items are (image, label): the image is an HxW uint8 numpy array (what torchvision's PIL
image holds) passed through `transform`; the label an int. `.data` is the (N, H, W) uint8
tensor and `.targets` the (N,) int64 tensor, as in torchvision (both share the file's
memory). Reading files is done with numpy here (no arithmetic); ToTensor converts in the core.
"""

import gzip
import os
import urllib.request

import numpy as np

from ._tensor import from_numpy
from .utils.data import Dataset

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path, ndim):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise RuntimeError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 + 4 * ndim:
        raise RuntimeError(f"IDX file {path} is truncated ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 | ndim:
        raise RuntimeError(
            f"IDX file {path} has magic {magic:#x}, expected {0x0800 | ndim:#x} (unsigned bytes, {ndim} dims)"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    need = 4 + 4 * ndim + int(np.prod(dims))
    if len(data) < need:
        raise RuntimeError(f"IDX file {path} is truncated: dims {dims} need {need} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, count=need - 4 - 4 * ndim, offset=4 + 4 * ndim).reshape(dims)


class MNIST(Dataset):
    default_root = None
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            root = self.default_root
        if root is None:
            raise TypeError(f"{type(self).__name__}() missing required argument 'root'")
        self.root = os.path.expanduser(os.fspath(root))
        self.train, self.transform, self.target_transform = train, transform, target_transform
        files = self._find()
        if files is None and download:
            self.download()
            files = self._find()
        if files is None:
            names = ", ".join(n + ".gz" for n in _FILES[train])
            raise RuntimeError(
                f"Dataset not found: {type(self).__name__} needs {names} (gzip or uncompressed) in {self.root} "
                f"(or {os.path.join(self.root, type(self).__name__, 'raw')}). Put the files there"
                + (
                    ", or pass download=True with network access."
                    if not download
                    else "; downloading them failed (no network?)."
                )
            )
        self._images = _read_idx(files[0], 3)
        self._labels = _read_idx(files[1], 1).astype(np.int64)
        if len(self._images) != len(self._labels):
            raise RuntimeError(
                f"{files[0]} has {len(self._images)} images but {files[1]} has {len(self._labels)} labels"
            )
        self.data = from_numpy(np.require(self._images, requirements="W"))  # uint8 (N, H, W)
        self.targets = from_numpy(self._labels)  # int64 (N,)

    def _dirs(self):
        return [self.root, os.path.join(self.root, type(self).__name__, "raw"), os.path.join(self.root, "raw")]

    def _find(self):
        for d in self._dirs():
            found = []
            for name in _FILES[self.train]:
                for cand in (name + ".gz", name):
                    p = os.path.join(d, cand)
                    if os.path.isfile(p):
                        found.append(p)
                        break
            if len(found) == 2:
                return found
        return None

    def download(self):
        raw = os.path.join(self.root, type(self).__name__, "raw")
        os.makedirs(raw, exist_ok=True)
        for name in _FILES[self.train]:
            dest = os.path.join(raw, name + ".gz")
            if os.path.isfile(dest):
                continue
            for m in self.mirrors:
                try:
                    with urllib.request.urlopen(m + name + ".gz", timeout=30) as r, open(dest + ".part", "wb") as f:
                        f.write(r.read())
                    os.replace(dest + ".part", dest)
                    break
                except OSError:
                    continue

    def __len__(self):
        return len(self._images)

    def __getitem__(self, index):
        img, target = self._images[index], int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    @property
    def classes(self):
        return [
            f"{i} - {n}"
            for i, n in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
        ]

    def __repr__(self):
        return (
            f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n    Root location: "
            f"{self.root}\n    Split: {'Train' if self.train else 'Test'}"
        )


class FashionMNIST(MNIST):
    """Default root: the Debian package's /usr/share/datasets/fashion-mnist."""

    default_root = "/usr/share/datasets/fashion-mnist"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]

    @property
    def classes(self):
        return [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ]
