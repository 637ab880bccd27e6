"""repr(tensor) in PyTorch's format (torch/_tensor_str.py, default print options)."""

import math

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80


class _Formatter:
    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        v = values.reshape(-1)
        self.boolean = values.dtype == np.bool_
        if not floating:
            self.max_width = max([len(self.format(x)) for x in v] or [1])
            return
        finite = v[np.isfinite(v)]
        nonzero = np.abs(finite[finite != 0]).astype(np.float64)
        if nonzero.size == 0:
            return  # like torch: no padding when nothing is finite and nonzero
        self.int_mode = bool(np.all(np.ceil(nonzero) == nonzero))
        lo, hi = nonzero.min(), nonzero.max()
        if self.int_mode:
            if hi / lo > 1000.0 or hi > 1.0e8:
                self.sci_mode = True
        else:
            if hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4:
                self.sci_mode = True
        self.max_width = max(len(self.format(x)) for x in v)

    @staticmethod
    def _fmt_special(x):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return None

    def format(self, x):
        if self.boolean:
            return str(bool(x))
        if not self.floating:
            return str(int(x))
        x = float(x)
        sp = self._fmt_special(x)
        if sp is not None:
            return sp
        if self.sci_mode:
            return f"{x:.{PRECISION}e}"
        if self.int_mode:
            return f"{x:.0f}."
        return f"{x:.{PRECISION}f}"

    def pad(self, x):
        return self.format(x).rjust(self.max_width)


def _summarized(a):
    """The values torch looks at when summarising (edge items only)."""
    if a.ndim == 0:
        return a.reshape(1)
    if a.shape[0] > 2 * EDGEITEMS:
        parts = [a[:EDGEITEMS], a[-EDGEITEMS:]]
    else:
        parts = [a]
    return np.concatenate([_summarized(p_i).reshape(-1) for p in parts for p_i in p] or [np.zeros(0, a.dtype)])


def _vector_str(a, indent, fmt, summarize):
    elem_w = fmt.max_width + 2
    per_line = max(1, math.floor((LINEWIDTH - indent) / elem_w))
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        items = [fmt.pad(x) for x in a[:EDGEITEMS]] + [" ..."] + [fmt.pad(x) for x in a[-EDGEITEMS:]]
    else:
        items = [fmt.pad(x) for x in a]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a, indent, fmt, summarize):
    dim = a.ndim
    if dim == 0:
        return fmt.format(a.item())
    if dim == 1:
        return _vector_str(a, indent, fmt, summarize)
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        slices = (
            [_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(EDGEITEMS)]
            + ["..."]
            + [_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(len(a) - EDGEITEMS, len(a))]
        )
    else:
        slices = [_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(a.shape[0])]
    sep = "," + "\n" * (dim - 1) + " " * (indent + 1)
    return "[" + sep.join(slices) + "]"


def format_tensor(t):
    a = t.detach()._np_view()
    floating = a.dtype.kind == "f"
    prefix = "tensor("
    suffixes = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
    else:
        summarize = a.size > THRESHOLD
        values = _summarized(a) if summarize else a
        fmt = _Formatter(np.asarray(values), floating)
        body = _tensor_str(a, len(prefix), fmt, summarize)
    from ._tensor import get_default_dtype  # late: _tensor imports this module

    if floating and t.dtype is not get_default_dtype():
        suffixes.append(f"dtype={t.dtype!r}")  # as torch: a float dtype other than the default is shown
    if t.requires_grad:
        fn = t.grad_fn
        suffixes.append(f"grad_fn=<{fn.name()}>" if fn is not None else "requires_grad=True")
    s = prefix + body
    for suf in suffixes:
        s += ", " + suf
    return s + ")"
