#!/usr/bin/env python3
"""Fuzzes dfm.load's unpickler (weights_only=True, the default): the accepted subset of
pickle (plain containers and dfm's own tensor rebuild functions, bindings/python/dfm/
_serialization.py). The unpickler is Python on CPython's C pickle machine, so this target
runs under atheris (libFuzzer for Python, `pip install atheris`) when it is installed, and
otherwise under a seeded random-mutation loop with the same checks.

For every input, dfm.load must either return objects of the accepted kinds only, or raise
its CheckpointError (a pickle.UnpicklingError); anything else (another exception, a crash in
libdfm through ctypes, a hang) is a finding and the input is kept.

    DFM_LIBRARY=.../libdfm.so python3 fuzz/fuzz_unpickle.py [libFuzzer flags] CORPUS...
    DFM_LIBRARY=... python3 fuzz/fuzz_unpickle.py --mutate SECONDS --artifact-prefix P CORPUS...
    DFM_LIBRARY=... python3 fuzz/fuzz_unpickle.py --seeds   (writes fuzz/corpus/pickle)
"""

import collections
import importlib
import io
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))

try:
    import atheris
except ImportError:  # the fallback mutator below
    atheris = None

if atheris:
    with atheris.instrument_imports(include=["dfm"]):
        import dfm
        from dfm import _serialization
else:
    import dfm
    from dfm import _serialization

from dfm.nn import Parameter

ACCEPTED = (
    dict,
    collections.OrderedDict,
    list,
    tuple,
    set,
    frozenset,
    slice,
    complex,
    str,
    bytes,
    bytearray,
    int,
    float,
    bool,
    type(None),
    dfm.Tensor,
    Parameter,
    type(dfm.float32),
)


# The allowed globals themselves (a pickle may return `dict` or `_rebuild_tensor` unapplied,
# as torch's weights_only unpickler returns its allowed globals).
GLOBALS = {id(getattr(importlib.import_module(m), n)) for m, n in _serialization._SAFE}


def check(obj):
    """Walks what dfm.load returned (iteratively: it may be deep or cyclic)."""
    seen, stack = set(), [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or id(o) in GLOBALS:
            continue
        seen.add(id(o))
        if not isinstance(o, ACCEPTED):
            raise AssertionError(f"dfm.load(weights_only=True) returned a {type(o).__module__}.{type(o).__name__}")
        if isinstance(o, dfm.Tensor):
            # a tensor it built must be whole: its bytes readable, its shape consistent
            n = 1
            for d in o.shape:
                n *= d
            assert o.numel() == n, (o.shape, o.numel())
            o.detach()._np_view().tobytes()
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif isinstance(o, slice):
            stack.extend((o.start, o.stop, o.step))


def one_input(data):
    try:
        obj = dfm.load(io.BytesIO(bytes(data)))
    except _serialization.CheckpointError:
        return
    check(obj)


# ---- seeds ----


def seeds():
    out = os.path.join(HERE, "corpus", "pickle")
    os.makedirs(out, exist_ok=True)
    dfm.manual_seed(0)
    lin = dfm.nn.Linear(3, 2)
    objs = {
        "tensor-f32": dfm.tensor([[1.0, -2.5], [float("nan"), float("inf")]]),
        "tensor-i64": dfm.tensor([1, -2, 2**62]),
        "tensor-bool": dfm.tensor([True, False]),
        "tensor-u8": dfm.tensor([0, 255], dtype=dfm.uint8),
        "tensor-f64-scalar": dfm.tensor(3.25, dtype=dfm.float64),
        "tensor-empty": dfm.zeros(0, 3),
        "parameter": lin.weight,
        "state-dict": lin.state_dict(),
        "containers": {
            "a": [1, 2.5, None, True],
            "b": (b"x", "y"),
            "c": {1, 2},
            "d": frozenset([3]),
            "e": slice(1, 5, 2),
            "f": complex(1, -1),
            "g": dfm.float64,
        },
        "checkpoint": {"epoch": 3, "model": lin.state_dict(), "optim": {"lr": 0.1, "state": {0: {"step": 2}}}},
    }
    for name, obj in objs.items():
        with open(os.path.join(out, name), "wb") as f:
            dfm.save(obj, f)
    # near-valid: a refused global, a truncated stream, a bad rebuild argument
    with open(os.path.join(out, "bad-global"), "wb") as f:
        f.write(b"\x80\x04cos\nsystem\n\x8c\x04true\x85R.")
    with open(os.path.join(out, "state-dict"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "bad-truncated"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    with open(os.path.join(out, "bad-rebuild"), "wb") as f:
        f.write(
            b"\x80\x04\x8c\x11dfm._serialization\x8c\x0f_rebuild_tensor\x93C\x04\x00\x00\x80?K\x05K\x07\x86"
            b"\x8c\x07float32\x89t\x94R."
        )
    print(f"wrote {len(objs) + 3} seeds to {os.path.relpath(out)}")


# ---- the fallback: seeded random mutation (when atheris is not installed) ----

OPCODES = [
    bytes([c])
    for c in b"()*.01FGIJKLMNPQRSTUVXabcdeghijlopqrstu}~\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98"
]


def mutate(rng, data, pool):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 2:
            b[pos:pos] = rng.choice(OPCODES)
        elif op == 3 and b:
            del b[pos : pos + rng.randint(1, 8)]
        elif op == 4:
            other = rng.choice(pool)
            s = rng.randrange(len(other) + 1)
            b[pos:pos] = other[s : s + rng.randint(1, 32)]
        elif op == 5:
            b[pos:pos] = rng.choice(
                [b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xff" * 8, b"J\xff\xff\xff\xff", b"K\x00"]
            )
        elif op == 6 and len(b) > 1:
            s = rng.randrange(len(b))
            b[pos:pos] = b[s : s + rng.randint(1, 16)]
    return bytes(b)


def mutation_loop(seconds, prefix, corpus_dirs):
    pool = []
    for d in corpus_dirs:
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                pool.append(f.read())
    pool = pool or [b"\x80\x04N."]
    seed = int(os.environ.get("DFM_FUZZ_SEED", "1"))
    rng = random.Random(seed)
    end, n = time.time() + seconds, 0
    while time.time() < end:
        data = mutate(rng, rng.choice(pool), pool)
        try:
            one_input(data)
        except BaseException as e:  # noqa: B902 - every escape is a finding
            path = f"{prefix}crash-{n}"
            with open(path, "wb") as f:
                f.write(data)
            print(f"FINDING after {n} inputs: {type(e).__name__}: {e}\ninput kept in {path}", file=sys.stderr)
            raise
        n += 1
        if n % 2000 == 0:
            pool.append(data)  # keep some variety (no coverage feedback here)
    print(f"fuzz_unpickle (random mutation, seed {seed}): {n} inputs in {seconds} s, no finding")


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--seeds"]:
        return seeds()
    if argv[:1] == ["--mutate"] or atheris is None:
        seconds, prefix, dirs = 60, "./", []
        it = iter(argv)
        for a in it:
            if a == "--mutate":
                seconds = int(next(it))
            elif a == "--artifact-prefix":
                prefix = next(it)
            elif a.startswith("-max_total_time="):
                seconds = int(a.split("=", 1)[1])
            elif a.startswith("-artifact_prefix="):
                prefix = a.split("=", 1)[1]
            elif not a.startswith("-"):
                dirs.append(a)
        return mutation_loop(seconds, prefix, dirs)
    atheris.Setup([sys.argv[0]] + argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
