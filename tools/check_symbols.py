#!/usr/bin/env python3
"""Checks that libdfm.so and Include/dfm.h agree.

1. The `dfm_` functions exported by the library (nm -D --defined-only) are exactly the
   functions the header declares, both ways.
2. The header compiles warning-free as C99 (cc -std=c99 -Wall -Wextra -pedantic -Werror)
   and as C++ (c++ -Wall -Wextra -Werror), and a C program taking the address of every
   declared function links against the library.
(Signatures are checked by the Swift compiler: every export is `@c @implementation` of
its declaration in dfm.h.)

3. With --coverage TEST.c: every declared function is called by the C tests, and every
   function returning dfm_status is also driven with bad input there (it appears in an
   ERR(...)/BAD(...) check or is handed to one of the tests' bad_* helpers).

Usage: tools/check_symbols.py [path/to/libdfm.so] [--coverage bindings/c/tests/test_abi.c]
       (default library: .build/release/libdfm.so)
"""

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "Include", "dfm.h")
# Status-returning functions every argument value of which is valid.
NO_BAD_INPUT = {
    "dfm_manual_seed": "every uint64 is a valid seed",
}


def declared(header_text):
    # Strip comments, then find every `DFM_API <return type> dfm_name(`.
    text = re.sub(r"/\*.*?\*/", " ", header_text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    decls = re.findall(r"\bDFM_API\b([^;(]*?)\b(dfm_\w+)\s*\(([^)]*)\)", text)
    names = [n for _, n, _ in decls]
    dupes = sorted({n for n in names if names.count(n) > 1})
    # Functions that can be given bad input: they return a status and take arguments.
    fallible = {
        n
        for ret, n, params in decls
        if ret.split()[-1:] == ["dfm_status"] and params.strip() != "void" and n not in NO_BAD_INPUT
    }
    return set(names), dupes, fallible


def coverage(test_path, names, fallible):
    with open(test_path) as f:
        src = f.read()
    ok = True
    uncalled = sorted(n for n in names if not re.search(r"\b%s\b" % n, src))
    bad_lines = [l for l in src.splitlines() if re.search(r"\b(ERR|BAD)\(|\bbad_\w+\(", l)]
    untested = sorted(n for n in fallible if not any(re.search(r"\b%s\b" % n, l) for l in bad_lines))
    if uncalled:
        print(f"FAIL: never called by {test_path}:\n  " + "\n  ".join(uncalled))
        ok = False
    if untested:
        print(f"FAIL: no bad-input check in {test_path}:\n  " + "\n  ".join(untested))
        ok = False
    print(
        f"coverage: {len(names) - len(uncalled)}/{len(names)} called, "
        f"{len(fallible) - len(untested)}/{len(fallible)} fallible functions driven with bad input"
    )
    return ok


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    return {
        line.split()[-1]
        for line in out.splitlines()
        if re.match(r"^dfm_\w+$", line.split()[-1] if line.split() else "")
    }


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.returncode == 0


def main():
    args = sys.argv[1:]
    test_path = None
    if "--coverage" in args:
        i = args.index("--coverage")
        test_path = args[i + 1]
        del args[i : i + 2]
    lib = os.path.abspath(args[0] if args else os.path.join(ROOT, ".build", "release", "libdfm.so"))
    with open(HEADER) as f:
        names, dupes, fallible = declared(f.read())
    ok = True
    if test_path:
        ok &= coverage(test_path, names, fallible)
    if dupes:
        print("FAIL: declared more than once in dfm.h:", ", ".join(dupes))
        ok = False
    syms = exported(lib)
    missing = sorted(names - syms)
    extra = sorted(syms - names)
    if missing:
        print(f"FAIL: declared in dfm.h but not exported by {lib}:\n  " + "\n  ".join(missing))
        ok = False
    if extra:
        print(f"FAIL: exported by {lib} but not declared in dfm.h:\n  " + "\n  ".join(extra))
        ok = False
    print(f"symbols: {len(names)} declared, {len(syms)} exported")

    cc = os.environ.get("CC", "cc")
    cxx = os.environ.get("CXX", "c++")
    inc = os.path.join(ROOT, "Include")
    with tempfile.TemporaryDirectory() as tmp:
        # Every declared function's address, so linking proves each declaration resolves.
        body = "\n".join(f"    (void (*)(void))(uintptr_t){n}," for n in sorted(names))
        src = (
            "#include <dfm.h>\n#include <stdint.h>\n#include <stdio.h>\n"
            "typedef void (*fp)(void);\n"
            f"static fp all[] = {{\n{body}\n}};\n"
            "int main(void) {\n"
            "    size_t n = sizeof all / sizeof all[0], i;\n"
            "    for (i = 0; i < n; i++) if (!all[i]) return 1;\n"
            '    printf("%s abi %d: %u functions resolved\\n", dfm_version(), (int)dfm_abi_version(), (unsigned)n);\n'
            "    return dfm_abi_version() == DFM_ABI_VERSION ? 0 : 1;\n}\n"
        )
        c = os.path.join(tmp, "all.c")
        cpp = os.path.join(tmp, "all.cpp")
        with open(c, "w") as f:
            f.write(src)
        with open(cpp, "w") as f:
            f.write("#include <dfm.h>\nint main() { return dfm_abi_version() == DFM_ABI_VERSION ? 0 : 1; }\n")
        exe = os.path.join(tmp, "all")
        libdir = os.path.dirname(lib)
        ok &= run(
            [
                cc,
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-pedantic",
                "-Werror",
                "-I",
                inc,
                c,
                "-o",
                exe,
                lib,
                f"-Wl,-rpath,{libdir}",
            ]
        )
        ok &= run([cxx, "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", inc, "-fsyntax-only", cpp])
        ok &= run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-I", inc, "-fsyntax-only", cpp])
        if ok:
            # The soname is libdfm.so.<ABI major>: give the loader that name next to the library.
            abi = re.search(r"#define DFM_ABI_VERSION (\d+)", open(os.path.join(inc, "dfm.h")).read()).group(1)
            soname_link = os.path.join(tmp, f"libdfm.so.{abi}")
            os.symlink(lib, soname_link)
            env = dict(os.environ, LD_LIBRARY_PATH=tmp)
            r = subprocess.run([exe], capture_output=True, text=True, env=env)
            print(r.stdout.strip())
            if r.returncode != 0:
                print("FAIL: running the all-symbols program:", r.stderr)
                ok = False
    print("check_symbols:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
