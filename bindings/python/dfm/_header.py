"""Reads the function declarations of Include/dfm.h.

Used by tools/gen_decls.py to write dfm/_decls.py (the copy an installed package
uses) and, in a source checkout, at import time, so the ctypes declarations always
follow the header instead of being maintained by hand.

A declaration becomes (name, restype, [(argtype, argname), ...]) where types are
normalised C spellings such as "dfm_status", "int64_t*", "const char*", "dfm_tensor*".
"""

import re

_DECL = re.compile(r"DFM_API\s+(?:DFM_DEPRECATED\([^)]*\)\s+)?([^;(]+?)\s*\b(dfm_\w+)\s*\(([^;]*?)\)\s*;", re.S)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_ABI = re.compile(r"#define\s+DFM_ABI_VERSION\s+(\d+)")
_ENUM = re.compile(r"typedef\s+enum\s+\w*\s*\{([^}]*)\}\s*(\w+)\s*;", re.S)
_ENUMERATOR = re.compile(r"(DFM_\w+)\s*=\s*(-?\d+)")


def _norm_type(t):
    """'const int64_t *' -> 'const int64_t*'; array parameters become pointers."""
    t = " ".join(t.replace("*", " * ").split())
    return t.replace(" *", "*")


def _split_param(p):
    p = " ".join(p.split())
    arr = p.endswith("]")
    if arr:
        p = p[: p.index("[")].strip()
    m = re.match(r"^(.*?)(\w+)$", p)
    if not m or not m.group(1).strip():
        # unnamed parameter
        ty, name = p, ""
    else:
        ty, name = m.group(1), m.group(2)
    ty = _norm_type(ty)
    if arr:
        ty += "*"
    return ty, name


def parse(text):
    """Returns (abi_version, decls, enums) where decls is {name: (restype, [(argtype, argname), ...])}
    in header order and enums is {enum_type: {ENUMERATOR: value}}."""
    text = _COMMENT.sub(" ", text)
    abi = _ABI.search(text)
    enums = {m.group(2): {k: int(v) for k, v in _ENUMERATOR.findall(m.group(1))} for m in _ENUM.finditer(text)}
    decls = {}
    for m in _DECL.finditer(text):
        ret, name, params = _norm_type(m.group(1)), m.group(2), m.group(3).strip()
        args = []
        if params and params != "void":
            args = [_split_param(p) for p in params.split(",")]
        decls[name] = (ret, args)
    return (int(abi.group(1)) if abi else None), decls, enums


def parse_file(path):
    with open(path, "r", encoding="utf-8") as f:
        return parse(f.read())
