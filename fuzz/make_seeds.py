#!/usr/bin/env python3
"""Writes the seed corpora of fuzz-safetensors and fuzz-idx (small valid and near-valid
files) into fuzz/corpus/. The checkpoint seeds are written by the library itself
(tools/fuzz.sh --seeds runs fuzz-checkpoint with DFM_FUZZ_WRITE_SEEDS) and the pickle seeds
by dfm.save (fuzz/fuzz_unpickle.py --seeds). Rerun after changing a format."""

import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def st(entries, metadata=None, raw_header=None, tail=b""):
    """A safetensors image: entries are (name, dtype, shape, payload bytes) in data order."""
    header, body = {}, b""
    for name, dtype, shape, payload in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(payload)]}
        body += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body + tail


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors_seeds():
    f32 = struct.pack("<6f", 1, -2, 0.5, float("inf"), float("nan"), 0)
    write("safetensors", "empty", st([]))
    write("safetensors", "f32", st([("w", "F32", [2, 3], f32)]))
    write("safetensors", "scalar", st([("s", "F32", [], struct.pack("<f", 3))]))
    write("safetensors", "zero-size", st([("z", "F32", [0, 4], b""), ("e", "I64", [0], b"")]))
    write(
        "safetensors",
        "mixed",
        st(
            [
                ("a", "I64", [2], struct.pack("<2q", -1, 2**62)),
                ("b", "BOOL", [3], b"\x00\x01\x02"),
                ("c", "U8", [2, 2], b"\x00\x7f\x80\xff"),
                ("d", "F64", [1], struct.pack("<d", 1e300)),
                ("e", "F16", [2], struct.pack("<2H", 0x3C00, 0x7E00)),
                ("f", "BF16", [2], struct.pack("<2H", 0x3F80, 0x0001)),
            ]
        ),
    )
    write(
        "safetensors", "metadata", st([("x.weight", "F32", [1], struct.pack("<f", 1))], {"format": "pt", "lr": "0.1"})
    )
    # near-valid: each breaks one rule of the format
    write(
        "safetensors",
        "bad-float-shape",
        st([], raw_header=b'{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', tail=b"\0" * 8),
    )
    write(
        "safetensors",
        "bad-duplicate",
        st(
            [],
            raw_header=b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
            b'"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
            tail=b"\1",
        ),
    )
    write(
        "safetensors",
        "bad-overlap",
        st(
            [],
            raw_header=b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
            b'"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
            tail=b"\1\2\3",
        ),
    )
    write("safetensors", "bad-length", struct.pack("<Q", 2**63 + 5) + b"{}")
    write(
        "safetensors",
        "bad-huge-shape",
        st([], raw_header=b'{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'),
    )
    write("safetensors", "bad-metadata", st([], raw_header=b'{"__metadata__":{"a":1,"b":["x"]}}'))
    write(
        "safetensors",
        "bad-json",
        st([], raw_header=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "\\ud800": [1e999, -0, 1E+2]'),
    )


def idx(dims, data, magic_dims=None):
    nd = len(dims) if magic_dims is None else magic_dims
    return bytes([0, 0, 8, nd]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_seed(images, labels):
    """fuzz-idx's input: a 2-byte little-endian labels length, the labels file, the images file."""
    return struct.pack("<H", len(labels)) + labels + images


def idx_seeds():
    img = idx([3, 2, 2], bytes(range(0, 240, 20)))
    lab = idx([3], b"\x00\x09\x05")
    write("idx", "raw", idx_seed(img, lab))
    write("idx", "gzip", idx_seed(gzip.compress(img, mtime=0), gzip.compress(lab, mtime=0)))
    write("idx", "empty", idx_seed(idx([0, 28, 28], b""), idx([0], b"")))
    write("idx", "zero-width", idx_seed(idx([2, 5, 0], b""), idx([2], b"\1\2")))
    write("idx", "bad-count", idx_seed(img, idx([2], b"\0\1")))
    write("idx", "bad-truncated", idx_seed(img[:-3], lab))
    write("idx", "bad-dims", idx_seed(idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\0"), lab))
    write("idx", "bad-gzip", idx_seed(gzip.compress(img, mtime=0)[:-6], lab))


if __name__ == "__main__":
    safetensors_seeds()
    idx_seeds()
