"""PEP 517 build backend for the dfm Python package (pure Python, standard library only).

`pip install ./bindings/python` (or `pip install .` at the repository root) builds libdfm with
SwiftPM and writes a platform wheel (py3-none-linux_x86_64) holding the `dfm` package, libdfm.so
and the Swift runtime libraries libdfm.so needs, copied from the toolchain. The copy of
libdfm.so gets RUNPATH $ORIGIN (the toolchain's own libraries already have it), so the copies
next to it are found without the toolchain;
OpenBLAS, zlib and the C/C++ runtime stay system libraries. The version is the one in
Include/dfm.h. Nothing is written into the checkout except SwiftPM's build folder.

Environment: SWIFT (the swift driver, default `swift`), DFM_SWIFT_SCRATCH (SwiftPM scratch
path, default <checkout>/.build) and DFM_SWIFT_FLAGS (extra `swift build` flags, split on
spaces) let a caller reuse a build made with other flags; DFM_WHEEL_LIBRARY takes an already
built libdfm.so instead of running SwiftPM.
"""

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
PKG_SRC = os.path.join(ROOT, "bindings", "python", "dfm")
HEADER = os.path.join(ROOT, "Include", "dfm.h")
NAME = "dfm"
SUMMARY = "PyTorch-style Python API over libdfm (Deep Feedback Models, CPU)"


def _macro(text, name):
    m = re.search(rf"^#define {name} (\d+)$", text, re.M)
    if not m:
        raise RuntimeError(f"dfm build: {name} not found in {HEADER}")
    return m.group(1)


def version():
    """MAJOR.MINOR.PATCH from the header's DFM_VERSION_* macros (their one source)."""
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    return ".".join(_macro(text, f"DFM_VERSION_{p}") for p in ("MAJOR", "MINOR", "PATCH"))


def _metadata():
    readme = os.path.join(ROOT, "bindings", "python", "README.md")
    with open(readme, encoding="utf-8") as f:
        body = f.read()
    return (
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version()}\nSummary: {SUMMARY}\n"
        "License: MIT\nRequires-Python: >=3.9\nRequires-Dist: numpy>=1.21\n"
        'Provides-Extra: test\nRequires-Dist: pytest; extra == "test"\n'
        f"Description-Content-Type: text/markdown\n\n{body}"
    )


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _dist_info():
    return f"{NAME}-{version()}.dist-info"


# ---- building libdfm and finding its runtime ------------------------------------------


def _build_library():
    given = os.environ.get("DFM_WHEEL_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise RuntimeError(f"dfm build: DFM_WHEEL_LIBRARY={given} does not exist")
        return given
    swift = os.environ.get("SWIFT", "swift")
    scratch = os.environ.get("DFM_SWIFT_SCRATCH", os.path.join(ROOT, ".build"))
    flags = os.environ.get("DFM_SWIFT_FLAGS", "").split()
    cmd = [swift, "build", "-c", "release", *flags, "--product", "dfm", "--scratch-path", scratch]
    try:
        subprocess.run(cmd, cwd=ROOT, check=True)
        out = subprocess.run(
            cmd[:-2] + ["--scratch-path", scratch, "--show-bin-path"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout.strip()
    except FileNotFoundError:
        raise RuntimeError(
            "dfm build: the Swift toolchain (`swift`) is not on PATH; install Swift 6 (swift.org) or set SWIFT"
        ) from None
    lib = os.path.join(out.splitlines()[-1], "libdfm.so")
    if not os.path.isfile(lib):
        raise RuntimeError(f"dfm build: SwiftPM did not produce {lib}")
    return lib


def runtime_libraries(lib):
    """The libraries `lib` loads from the Swift toolchain (the folder holding libswiftCore.so)."""
    out = subprocess.run(["ldd", lib], check=True, stdout=subprocess.PIPE, text=True).stdout
    resolved = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            if parts[2] == "not":
                raise RuntimeError(f"dfm build: {lib} needs {parts[0]}, which is not found")
            resolved[parts[0]] = parts[2]
    core = resolved.get("libswiftCore.so")
    if core is None:
        raise RuntimeError(f"dfm build: ldd finds no libswiftCore.so for {lib}")
    toolchain = os.path.dirname(os.path.realpath(core)) + os.sep
    return sorted(p for p in resolved.values() if os.path.realpath(p).startswith(toolchain))


# ---- RUNPATH of a copied library --------------------------------------------------------

_DT_NULL, _DT_STRTAB, _DT_RPATH, _DT_RUNPATH = 0, 5, 15, 29


def set_runpath(path, runpath):
    """Rewrites the RUNPATH (or RPATH) of the ELF64 little-endian file `path` to `runpath` in place.

    SwiftPM links libdfm and the tool with the toolchain's library folder first in their
    RUNPATH; a copy next to its Swift runtime must search only its own folder, or a machine
    with another Swift at the same place would mix runtimes. The new string is written over
    the old one in .dynstr, so it must not be longer (the toolchain path always is longer
    than `$ORIGIN` or `$ORIGIN/../lib`)."""
    import struct

    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise RuntimeError(f"dfm build: {path} is not a little-endian ELF64 file")
        (phoff,) = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        loads, dynamic = [], None
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from(
                "<IIQQQQQQ", data, phoff + i * phentsize
            )
            if p_type == 1:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == 2:
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            raise RuntimeError(f"dfm build: {path} has no dynamic section")
        entries, strtab, at = {}, None, dynamic[0]
        while at < dynamic[0] + dynamic[1]:
            tag, val = struct.unpack_from("<qQ", data, at)
            if tag == _DT_NULL:
                break
            if tag == _DT_STRTAB:
                strtab = val
            elif tag in (_DT_RPATH, _DT_RUNPATH):
                entries[tag] = val
            at += 16
        if strtab is None or not entries:
            raise RuntimeError(f"dfm build: {path} has no RUNPATH to rewrite")
        base = next((off + strtab - va for va, off, size in loads if va <= strtab < va + size), None)
        if base is None:
            raise RuntimeError(f"dfm build: {path}: the string table is outside every segment")
        new = runpath.encode()
        for offset in entries.values():
            start = base + offset
            old_len = data.index(b"\0", start) - start
            if len(new) > old_len:
                raise RuntimeError(f"dfm build: {path}: RUNPATH {runpath!r} is longer than the one linked in")
            data[start : start + old_len] = new + b"\0" * (old_len - len(new))
        f.seek(0)
        f.write(data)


# ---- writing the wheel ---------------------------------------------------------------


def _package_files():
    """(path inside the wheel, source path) of the Python package, without caches or stray libraries."""
    for d, dirs, files in os.walk(PKG_SRC):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith((".py", ".typed")):
                src = os.path.join(d, f)
                yield os.path.join(NAME, os.path.relpath(src, PKG_SRC)).replace(os.sep, "/"), src


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    lib = _build_library()
    tag = _tag()
    wheel_name = f"{NAME}-{version()}-{tag}.whl"
    records = []
    tmp = tempfile.NamedTemporaryFile(dir=wheel_directory, suffix=".tmp", delete=False)
    tmp.close()
    try:
        with zipfile.ZipFile(tmp.name, "w", zipfile.ZIP_DEFLATED) as z:

            def add(name, data, mode=0o644):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
                records.append(_record_line(name, data))

            for name, src in _package_files():
                with open(src, "rb") as f:
                    add(name, f.read())
            with tempfile.TemporaryDirectory() as stage:
                copy = os.path.join(stage, "libdfm.so")
                shutil.copyfile(lib, copy)
                set_runpath(copy, "$ORIGIN")  # only the Swift runtime bundled next to it
                for src in [copy, *runtime_libraries(lib)]:
                    with open(src, "rb") as f:
                        add(f"{NAME}/{os.path.basename(src)}", f.read(), 0o755)
            di = _dist_info()
            add(f"{di}/METADATA", _metadata().encode())
            add(
                f"{di}/WHEEL",
                f"Wheel-Version: 1.0\nGenerator: dfm_backend\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
            )
            with open(os.path.join(ROOT, "LICENSE"), "rb") as f:
                add(f"{di}/LICENSE", f.read())
            records.append(f"{di}/RECORD,,")
            info = zipfile.ZipInfo(f"{di}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            z.writestr(info, "\n".join(records) + "\n", zipfile.ZIP_DEFLATED)
        os.replace(tmp.name, os.path.join(wheel_directory, wheel_name))
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    di = os.path.join(metadata_directory, _dist_info())
    os.makedirs(di, exist_ok=True)
    with open(os.path.join(di, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return _dist_info()


# ---- source distribution: the whole checkout (the package needs the Swift sources) ------


def _source_files():
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ).stdout
        return sorted(p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(ROOT, p)))
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, fs in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith((".build", ".git", "__pycache__", "runs"))]
            files += [os.path.relpath(os.path.join(d, f), ROOT) for f in fs if not f.endswith((".pyc", ".so"))]
        return sorted(files)


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{version()}"
    name = f"{base}.tar.gz"
    path = os.path.join(sdist_directory, name)
    with tarfile.open(path + ".tmp", "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in _source_files():
            tar.add(os.path.join(ROOT, rel), arcname=f"{base}/{rel}", recursive=False)
        data = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    shutil.move(path + ".tmp", path)
    return name


if __name__ == "__main__":  # tools/install.sh: python3 dfm_backend.py set-runpath FILE RUNPATH
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "set-runpath":
        sys.exit("usage: dfm_backend.py set-runpath FILE RUNPATH")
    set_runpath(sys.argv[2], sys.argv[3])
