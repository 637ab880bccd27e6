#!/usr/bin/env python3
"""Writes Sources/FuzzC/abi_calls.inc: one `case` per function of Include/dfm.h for the
fuzz-abi target (fuzz_abi.c), with every argument drawn from the fuzz input by its C type.
Rerun after changing the header (tools/fuzz.sh checks that the file is current):

    python3 fuzz/gen_abi_calls.py [--check]
"""

import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = os.path.join(ROOT, "Include", "dfm.h")
OUT = os.path.join(HERE, "Sources", "FuzzC", "abi_calls.inc")
_spec = importlib.util.spec_from_file_location(
    "_dfm_header", os.path.join(ROOT, "bindings", "python", "dfm", "_header.py")
)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)

KINDS = [
    "dfm_tensor",
    "dfm_tensor_dict",
    "dfm_string_list",
    "dfm_module",
    "dfm_optimizer",
    "dfm_scheduler",
    "dfm_dataset",
]
KIND_ENUM = {k: "K_" + k[4:].upper() for k in KINDS}
SCALAR_OUT = {
    "int64_t*": "int64_t",
    "double*": "double",
    "float*": "float",
    "bool*": "bool",
    "size_t*": "size_t",
    "uint64_t*": "uint64_t",
    "dfm_dtype*": "dfm_dtype",
    "void**": "void *",
    "const char**": "const char *",
}
INTS = {"int64_t", "int32_t", "uint64_t", "size_t"}
# Calls skipped when they would be legitimate requests for gigabytes (libFuzzer's malloc limit
# would report them): the library must refuse only what is beyond its limits (2^38 elements).
SKIP_IF = {
    "dfm_tensor_arange": "(a1 - a0) / a2 > 1e6 && (a1 - a0) / a2 <= 2.8e11",
    # Creating an MPI process group (or loading Open MPI) belongs to an mpirun job, not to a
    # fuzzed process; every other dfm_dist_* call runs and must fail cleanly without a group.
    "dfm_dist_init": "1",
    "dfm_dist_is_available": "1",
}


def render(decls):
    lines = []
    names = list(decls)
    for idx, name in enumerate(names):
        ret, args = decls[name]
        body, call, post = [], [], []
        prev_ptr_var = None  # the variable of the last pointer argument (a following count is clamped)
        prev_ptr_cap = None
        for i, (ty, an) in enumerate(args):
            v = f"a{i}"
            if ty in KIND_ENUM:
                body.append(f"{ty} {v} = ({ty})pick_handle({KIND_ENUM[ty]});")
                prev_ptr_var = None
            elif ty.rstrip("*") in KIND_ENUM and ty.endswith("*") and not ty.startswith("const"):
                kind = KIND_ENUM[ty[:-1]]
                body.append(f"{ty[:-1]} o{i} = ({ty[:-1]})SENTINEL; {ty} {v} = out_ptr() ? &o{i} : NULL;")
                post.append(f'after_out({kind}, s, {v}, (void *)o{i}, "{name}", "{an}");')
                prev_ptr_var = None
            elif ty.startswith("const dfm_") and ty.endswith("*"):
                kind = KIND_ENUM[ty[len("const ") : -1]]
                body.append(f"const {ty[6:-1]} *{v} = (const {ty[6:-1]} *)handle_array({kind});")
                prev_ptr_var, prev_ptr_cap = v, "ARRAY_ELEMS"
            elif ty == "const int64_t*":
                body.append(f"const int64_t *{v} = int_array();")
                prev_ptr_var, prev_ptr_cap = v, "ARRAY_ELEMS"
            elif ty == "const double*":
                body.append(f"const double *{v} = double_array();")
                prev_ptr_var, prev_ptr_cap = v, "ARRAY_ELEMS"
            elif ty == "const void*":
                body.append(f"const void *{v} = raw_in();")
                prev_ptr_var, prev_ptr_cap = v, "RAW_BYTES"
            elif ty == "void*" and an == "data":  # dfm_tensor_from_blob: memory that outlives the tensor
                body.append(f"void *{v} = blob();")
                prev_ptr_var, prev_ptr_cap = v, "RAW_BYTES"
            elif ty == "void*" and an == "user_data":
                body.append(f"void *{v} = pick_byte() & 1 ? &user_cookie : NULL;")
                prev_ptr_var = None
            elif ty in ("void*", "char*"):
                body.append(f"{ty[:-1]} *{v} = ({ty[:-1]} *)raw_out();")
                prev_ptr_var, prev_ptr_cap = v, "RAW_BYTES"
            elif ty == "int64_t*" and an in ("dims", "byte_strides"):
                body.append(f"int64_t *{v} = (int64_t *)raw_out();")
                prev_ptr_var, prev_ptr_cap = v, "RAW_BYTES / 8"
            elif ty in SCALAR_OUT:
                body.append(f"{SCALAR_OUT[ty]} *{v} = ({SCALAR_OUT[ty]} *)scalar_out();")
                if ty == "const char**":
                    post.append(f"if (s == DFM_OK && {v} && *{v}) (void)strlen(*{v});")
                prev_ptr_var = None
            elif ty == "const char*":
                kind = (
                    "path_write"
                    if re.search(r"save|write", name) and an == "path"
                    else "path_read"
                    if an in ("path", "images_path", "labels_path", "root")
                    else "word"
                )
                body.append(f"const char *{v} = pick_{kind}();")
                prev_ptr_var = None
            elif ty in INTS:
                # a count right after a pointer must not run past the caller's buffer (a C contract)
                if prev_ptr_var and an in (
                    "n",
                    "ndim",
                    "ndims",
                    "nbytes",
                    "capacity",
                    "n_milestones",
                    "n_params",
                    "count",
                ):
                    fn = "pick_ucount" if ty == "size_t" else "pick_count"  # a negative size_t is a huge buffer
                    body.append(f"{ty} {v} = ({ty}){fn}({prev_ptr_var} != NULL, {prev_ptr_cap});")
                else:
                    body.append(f"{ty} {v} = ({ty})pick_int();")
                prev_ptr_var = None
            elif ty in ("double", "float"):
                body.append(f"{ty} {v} = ({ty})pick_double();")
            elif ty == "bool":
                body.append(f"bool {v} = pick_byte() & 1;")
            elif ty == "dfm_reduce_op":
                body.append(f"dfm_reduce_op {v} = (dfm_reduce_op)((int)(pick_byte() % 7) - 1);")
            elif ty in ("dfm_dtype", "dfm_status"):
                body.append(f"{ty} {v} = ({ty})((int)(pick_byte() % 7) - 1);")
            elif ty == "dfm_release_fn":
                body.append(f"dfm_release_fn {v} = pick_byte() & 1 ? noop_release : NULL;")
            elif ty == "dfm_lr_lambda_fn":
                body.append(f"dfm_lr_lambda_fn {v} = pick_byte() & 1 ? lr_lambda : NULL;")
            elif ty == "dfm_closure_fn":
                body.append(f"dfm_closure_fn {v} = pick_byte() & 1 ? closure : NULL;")
            else:
                raise SystemExit(f"gen_abi_calls.py: no rule for {ty} {an} in {name}")
            call.append(v)
        if name.endswith("_release") and len(args) == 1:
            post.append(f"if (s == DFM_OK) forget({KIND_ENUM[args[0][0]]}, (void *)a0);")
        if name.endswith("_retain") and len(args) == 1:
            post.append(f"if (s == DFM_OK) keep({KIND_ENUM[args[0][0]]}, (void *)a0);")
        c = f"{name}({', '.join(call)})"
        if name in SKIP_IF:
            body.append(f"if ({SKIP_IF[name]}) break;")
        if ret == "dfm_status":
            body.append(f"dfm_status s = {c};")
            body.append("after_call(s);")
        elif ret == "const char*":
            body.append(f'const char *r = {c}; FUZZ_CHECK(r != NULL, "{name} returned NULL"); (void)strlen(r);')
        elif ret == "void":
            body.append(f"{c};")
        else:
            body.append(f"(void){c};")
        body += post
        lines.append(f"case {idx}: {{ /* {name} */\n    " + "\n    ".join(body) + "\n    break;\n}")
    head = (
        "/* Generated by fuzz/gen_abi_calls.py from Include/dfm.h. Do not edit. */\n"
        f"#define ABI_FUNCTION_COUNT {len(names)}\n"
        "static const char *const abi_function_names[ABI_FUNCTION_COUNT] = {\n"
        + "".join(f'    "{n}",\n' for n in names)
        + "};\n"
        "static void abi_call(int index) {\n    switch (index) {\n"
    )
    return head + "\n".join(lines) + "\n    }\n}\n"


def words(text):
    """The string literals the header mentions (reduction modes, architectures, ...)."""
    return sorted(set(re.findall(r'"([A-Za-z0-9_.\-]{1,24})"', text)))


def main():
    text = open(HEADER, encoding="utf-8").read()
    _, decls, _ = _mod.parse(text)
    out = render(decls)
    out += "static const char *const abi_words[] = {\n" + "".join(f'    "{w}",\n' for w in words(text)) + "};\n"
    if "--check" in sys.argv:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if current != out:
            sys.exit("fuzz/Sources/FuzzC/abi_calls.inc is out of date: run python3 fuzz/gen_abi_calls.py")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(out)
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({len(decls)} functions)")


if __name__ == "__main__":
    main()
