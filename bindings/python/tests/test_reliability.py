"""Issue #14: integers that do not fit the C types, checkpoint files (mode, errors, stale
temporaries) and malformed pickles."""

import glob
import os
import pickle
import stat

import dfm
import numpy as np
import pytest
from dfm import _lib

BIG = [2**64 + 3, 2**64, 2**63, -(2**63) - 1, -(2**64)]


def _overflows(f, *args):
    """The call raises torch's kind of error: an OverflowError that is also a RuntimeError."""
    with pytest.raises(OverflowError) as e:
        f(*args)
    assert isinstance(e.value, RuntimeError)
    assert "does not fit" in str(e.value)


# ---- item 2: Python ints beyond int64 never wrap ------------------------------------------------


@pytest.mark.parametrize("v", [2**64 + 3, 2**64, 2**63])  # (negative sizes are refused as negative)
def test_creation_sizes_beyond_int64_raise(v):
    for f in (dfm.zeros, dfm.ones, dfm.empty, dfm.randn, dfm.rand):
        _overflows(f, v)
        _overflows(f, 2, v)
    _overflows(dfm.full, (v,), 1.0)
    _overflows(dfm.randperm, v)
    _overflows(dfm.randint, 0, v, (2,))
    _overflows(lambda: dfm.nn.Linear(v, 2))
    _overflows(lambda: dfm.nn.Conv2d(1, 2, kernel_size=v))


def test_in_range_sizes_still_work():
    assert dfm.zeros(3).shape == (3,)
    assert dfm.zeros(0).shape == (0,)
    assert dfm.nn.Linear(3, 2).in_features == 3
    # the largest int64 is still an int64 (and too big to allocate: a clean MemoryError)
    with pytest.raises(MemoryError):
        dfm.zeros(2**63 - 1)


@pytest.mark.parametrize("v", BIG)
def test_dims_and_indices_beyond_int64_raise(v):
    x = dfm.arange(6).reshape(2, 3)
    _overflows(lambda: dfm.arange(5)[v])
    _overflows(lambda: x.sum(dim=v))
    _overflows(lambda: x.sum(dim=(0, v)))
    _overflows(lambda: x.reshape(v, 3))
    _overflows(lambda: x.view(v, 3))
    _overflows(lambda: x.narrow(0, v, 1))
    _overflows(lambda: x.narrow(0, 0, v))
    _overflows(lambda: x.unsqueeze(v))
    _overflows(lambda: x.topk(v))
    _overflows(lambda: x.topk(1, dim=v))
    _overflows(lambda: x.select(0, v))
    _overflows(lambda: x.expand(v, 3))
    _overflows(lambda: x.permute(0, v))
    _overflows(lambda: x.transpose(0, v))


def test_wrapped_values_are_what_the_bug_returned():
    """The exact reports of the issue: each used to give a wrong answer silently."""
    _overflows(lambda: dfm.zeros(2**64 + 3))  # was Size([3])
    _overflows(lambda: dfm.zeros(2**64))  # was empty
    _overflows(lambda: dfm.arange(5)[2**64 + 1])  # was tensor(1)
    _overflows(lambda: dfm.tensor([2**63]))  # was -2**63
    _overflows(lambda: dfm.nn.Linear(2**64 + 3, 2))


@pytest.mark.parametrize("data", [[2**63], [1, 2**64 + 1], [-(2**63) - 1], [[1], [2**70]], 2**63])
def test_tensor_values_beyond_int64_raise(data):
    _overflows(dfm.tensor, data)
    _overflows(lambda: dfm.tensor(data, dtype=dfm.int64))


def test_tensor_values_at_the_int64_limits_are_kept():
    t = dfm.tensor([2**63 - 1, -(2**63)])
    assert t.dtype is dfm.int64 and t.tolist() == [2**63 - 1, -(2**63)]
    assert dfm.tensor(np.array([2**63 - 1], dtype=np.uint64)).tolist() == [2**63 - 1]
    _overflows(dfm.tensor, np.array([2**63], dtype=np.uint64))
    # an index list with a huge entry is refused, not read as a float index
    _overflows(lambda: dfm.arange(5)[[2**64 + 1]])


def test_slices_clamp_like_python():
    """Slice bounds beyond the range clamp (Python, numpy and torch do), never wrap."""
    x = dfm.arange(6)
    assert x[2**64 :].tolist() == []
    assert x[2**64 + 1 :].tolist() == []  # used to wrap to x[1:]
    assert x[: 2**64 + 2].tolist() == list(range(6))[: 2**64 + 2]
    assert x[-(2**64) :].tolist() == list(range(6))
    assert x[: -(2**64)].tolist() == []
    assert x[:: 2**64 + 2].tolist() == [0]  # used to step by 2


def test_seeds_follow_torch_range():
    _overflows(dfm.manual_seed, 2**64)
    _overflows(dfm.manual_seed, -(2**63) - 1)
    dfm.manual_seed(2**64 - 1)
    a = dfm.rand(3).tolist()
    dfm.manual_seed(-1)  # torch reads a negative seed as its two's complement
    assert dfm.rand(3).tolist() == a


def test_every_int64_parameter_is_checked():
    """The check sits where ctypes converts: every by-value int64_t / uint64_t / int32_t
    parameter of every declared function."""
    for name, (_, args) in _lib.DECLS.items():
        if not _lib.has(name):
            continue
        f = getattr(_lib.lib, name)
        for (t, _), at in zip(args, f.argtypes):
            t = t.replace("const ", "").strip()
            if t in ("int64_t", "uint64_t", "int32_t"):
                assert at is _lib._CHECKED_ARGS[t], (name, t)
                assert _lib.fn(name) is _lib._checked[name]
    with pytest.raises(OverflowError):
        _lib.i64_array([1, 2**63])


# ---- items 8 and 9: checkpoint files --------------------------------------------------------------


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_every_checkpoint_writer_uses_0644_minus_umask(tmp_path, umask022):
    """dfm.save used 0600 (mkstemp) while the core's writers used 0644."""
    m = dfm.nn.Linear(2, 2)
    opt = dfm.optim.SGD(m.parameters(), lr=0.1)
    dfm.save(m.state_dict(), tmp_path / "a.pt")
    dfm.save_file(m.state_dict(), str(tmp_path / "b.safetensors"))
    _lib.check(_lib.C.dfm_optimizer_save(opt._cores[0], os.fsencode(str(tmp_path / "c.safetensors"))))
    modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert modes == {"a.pt": 0o644, "b.safetensors": 0o644, "c.safetensors": 0o644}
    os.umask(0o077)
    dfm.save({"x": 1}, tmp_path / "e.pt")
    assert _mode(tmp_path / "e.pt") == 0o600


def test_save_errors_name_the_target(tmp_path):
    """Errors name the path given (as torch.save's open() does), never a temporary file."""
    d = tmp_path / "dir.pt"
    d.mkdir()
    with pytest.raises(IsADirectoryError) as e:
        dfm.save({"x": 1}, d)
    assert e.value.filename == str(d) and "Is a directory" in str(e.value)
    missing = tmp_path / "nowhere" / "x.pt"
    with pytest.raises(FileNotFoundError) as e:
        dfm.save({"x": 1}, missing)
    assert e.value.filename == str(missing)
    # the core's writer: "is a directory", naming the target (it used to print a stale errno)
    with pytest.raises(OSError) as e:
        dfm.save_file({"a": dfm.ones(1)}, str(d))
    assert "is a directory" in str(e.value) and str(d) in str(e.value) and ".tmp-" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.pt"]  # no temporaries left


def _dead_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    """A writer killed mid-write leaves NAME.tmp-PID-N; the next write of NAME removes those of
    dead processes (from Python and from the core), and nothing else."""
    dead = _dead_pid()
    target = tmp_path / "ck.pt"
    stale = [tmp_path / f"ck.pt.tmp-{dead}-12345", tmp_path / f"ck.pt.tmp-{dead}-7"]
    kept = [
        tmp_path / f"ck.pt.tmp-{os.getpid()}-1",  # a live process: maybe still writing
        tmp_path / f"other.pt.tmp-{dead}-1",  # another target
        tmp_path / f"ck.pt.tmp-{dead}-1-x",
        tmp_path / "ck.pt.tmp-abc-1",
        tmp_path / "ck.pt.tmp-0-1",
    ]
    for p in stale + kept:
        p.write_bytes(b"partial")
    dfm.save({"x": 1}, target)
    assert all(not p.exists() for p in stale) and all(p.exists() for p in kept)
    assert dfm.load(target) == {"x": 1}
    # the core's writer (safetensors, module and optimizer checkpoints) does the same
    target2 = tmp_path / "w.safetensors"
    stale2 = tmp_path / f"w.safetensors.tmp-{dead}-99"
    stale2.write_bytes(b"partial")
    dfm.save_file({"a": dfm.ones(1)}, str(target2))
    assert not stale2.exists() and target2.exists()
    assert all(p.exists() for p in kept)


# ---- item 9: every malformed pickle is an UnpicklingError ---------------------------------------

_CRAFTED = {
    "empty": b"",
    "not a pickle": b"not a pickle",
    "truncated": pickle.dumps({"a": [1, 2, 3]}, protocol=4)[:-5],
    "self-referential shape": (b"\x80\x02cdfm._serialization\n_rebuild_tensor\n(C\x00]q\x01h\x01aVfloat32\n\x89tR."),
    "wrong argument count": b"\x80\x02cdfm._serialization\n_rebuild_tensor\n(K\x01tR.",
    "wrong argument types": b"\x80\x02cdfm._serialization\n_rebuild_tensor\n(K\x01K\x02K\x03K\x04tR.",
    "unknown dtype name": b"\x80\x02cdfm._tensor\n_dtype_by_name\n(Vfloat99\ntR.",
    "bad slice": b"\x80\x02cbuiltins\nslice\n(K\x01K\x02K\x03K\x04K\x05tR.",
    "unhashable set": b"\x80\x02cbuiltins\nset\n(]]a\x85tR.",
    "shape too big": b"\x80\x02cdfm._serialization\n_rebuild_tensor\n(C\x00K\x05\x85Vfloat32\n\x89tR.",
    "forbidden global": pickle.dumps(os.getcwd),
    # found by fuzz/fuzz_unpickle.py: a memo index of 2**26 made CPython's unpickler allocate
    # (and zero) a 512 MB memo; 2**30 would be 8 GB
    "huge memo index": b"\x80\x04N\x94r\x00\x00\x00\x04.",
    "huge memo index, protocol 2": b"\x80\x02Nr\x00\x00\x00\x04.",
    # found by fuzz/fuzz_unpickle.py: an opcode across the end of a frame made CPython's
    # unpickler raise MemoryError
    "opcode across a frame end": (
        b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x00\x8c\x0f_rebuild_tensor."
    ),
}


# Inputs that broke dfm.load under fuzz/fuzz_unpickle.py (#14 item 10), kept in the fuzz corpus.
_FOUND = sorted(
    glob.glob(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "fuzz", "corpus", "pickle", "found-*"
        )
    )
)


@pytest.mark.skipif(not _FOUND, reason="fuzz/corpus is not next to this checkout")
@pytest.mark.parametrize("path", _FOUND, ids=os.path.basename)
def test_fuzz_found_pickles_raise_unpicklingerror(path):
    # before: MemoryError (frames nested or cut mid-opcode) or an 8 GB memo (huge PUT index)
    with pytest.raises(pickle.UnpicklingError):
        dfm.load(path)


@pytest.mark.parametrize("name", sorted(_CRAFTED))
def test_malformed_pickles_raise_unpicklingerror(tmp_path, name):
    path = tmp_path / "x.pt"
    path.write_bytes(_CRAFTED[name])
    with pytest.raises(pickle.UnpicklingError) as e:
        dfm.load(path)
    assert isinstance(e.value, RuntimeError)  # as dfm raised before
    assert "x.pt" in str(e.value)
