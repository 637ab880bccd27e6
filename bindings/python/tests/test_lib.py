"""Loading the library, the ABI check, header-derived declarations, status → exception mapping."""

import os
import subprocess
import sys

import dfm
import pytest
from dfm import _header, _lib

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.abspath(os.path.join(HERE, ".."))
HEADER = os.path.abspath(os.path.join(PKG, "..", "..", "Include", "dfm.h"))


def test_version_and_abi():
    assert dfm.__version__ == _lib.VERSION
    assert _lib.lib.dfm_abi_version() == _lib.ABI_VERSION


@pytest.mark.skipif(not os.path.isfile(HEADER), reason="no source checkout")
def test_generated_declarations_match_header():
    sys.path.insert(0, os.path.join(PKG, "tools"))
    import gen_decls

    with open(os.path.join(PKG, "dfm", "_decls.py")) as f:
        current = f.read()
    assert current == gen_decls.render(HEADER), (
        "dfm/_decls.py is out of date with Include/dfm.h: run python3 bindings/python/tools/gen_decls.py"
    )


def test_every_header_function_is_declared():
    abi, decls, enums = _header.parse_file(HEADER) if os.path.isfile(HEADER) else (None, _lib.DECLS, _lib.ENUMS)
    for name, (ret, args) in decls.items():
        if _lib.has(name):
            f = getattr(_lib.lib, name)
            assert len(f.argtypes) == len(args), name
            assert f.restype is _lib.ctype(ret) or ret == "void"


def test_header_parser_handles_arrays_and_pointers():
    abi, decls, enums = _header.parse(
        "#define DFM_ABI_VERSION 7\ntypedef enum dfm_x { DFM_A = 0, DFM_B = 3 } dfm_x;\n"
        "/* c */ DFM_API dfm_status dfm_f(const int64_t stride[2], dfm_tensor *out, const char *s);\n"
        "DFM_API void dfm_g(void);"
    )
    assert abi == 7 and enums == {"dfm_x": {"DFM_A": 0, "DFM_B": 3}}
    assert decls["dfm_f"] == (
        "dfm_status",
        [("const int64_t*", "stride"), ("dfm_tensor*", "out"), ("const char*", "s")],
    )
    assert decls["dfm_g"] == ("void", [])


def _run(env_extra, code):
    env = dict(os.environ, PYTHONPATH=PKG, **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_missing_library_says_what_to_do():
    r = _run({"DFM_LIBRARY": "/nonexistent/libdfm.so"}, "import dfm")
    assert r.returncode != 0
    assert "cannot load libdfm.so" in r.stderr and "swift build -c release --product dfm" in r.stderr


def test_not_a_dfm_library_is_refused():
    import ctypes.util

    libm = ctypes.util.find_library("m") or "libm.so.6"
    r = _run({"DFM_LIBRARY": libm}, "import dfm")
    assert r.returncode != 0
    assert "swift build -c release --product dfm" in r.stderr


def test_status_mapping_carries_library_message():
    with pytest.raises(RuntimeError, match="dfm_reshape"):
        dfm.arange(6).reshape(4, 2)
    with pytest.raises(IndexError):
        dfm.ones(2, 3).sum(dim=5)
    e = _lib.error_for(_lib.ENUMS["dfm_status"]["DFM_NOT_FOUND"])
    assert isinstance(e, FileNotFoundError)
    assert isinstance(_lib.error_for(_lib.ENUMS["dfm_status"]["DFM_OUT_OF_MEMORY"]), MemoryError)
    assert isinstance(_lib.error_for(_lib.ENUMS["dfm_status"]["DFM_TYPE_ERROR"]), TypeError)
    assert isinstance(_lib.error_for(_lib.ENUMS["dfm_status"]["DFM_IO_ERROR"]), OSError)
