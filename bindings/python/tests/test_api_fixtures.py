"""dfm's Python API against PyTorch's recorded behaviour (fixtures/python_api.json, written by
tools/fixtures/python_api.py from the same cases in api_cases.py)."""

import json
import math
import os

import dfm
import dfm.nn as nn
import dfm.nn.functional as F
import numpy as np
import pytest
from api_cases import CASES, run_case

with open(os.path.join(os.path.dirname(__file__), "fixtures", "python_api.json")) as f:
    EXPECTED = json.load(f)

# Where dfm deliberately differs from torch (docs/PYTHON_API.md): an int target for an unbatched
# input is accepted and means the same as a 0-dim int64 tensor.
SAME_AS = {"ce_unbatched_int": "ce_unbatched_tensor"}


def _compare(got, exp, opts, path="result"):
    if isinstance(exp, dict) and "tensor" in exp:
        assert isinstance(got, dict) and "tensor" in got, f"{path}: expected a tensor, got {got!r}"
        assert got["shape"] == exp["shape"], f"{path}: shape {got['shape']} != {exp['shape']}"
        if exp["dtype"] == "float64" and opts.get("f64"):
            assert got["dtype"] == "float32", f"{path}: dfm gives float32 here, got {got['dtype']}"
        else:
            assert got["dtype"] == exp["dtype"], f"{path}: dtype {got['dtype']} != {exp['dtype']}"
        assert got["requires_grad"] == exp["requires_grad"], f"{path}: requires_grad differs"
        g = np.asarray(got["tensor"], dtype=np.float64)
        e = np.asarray(exp["tensor"], dtype=np.float64)
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=path)
    elif isinstance(exp, dict) and "size" in exp:
        assert got == exp, f"{path}: {got} != {exp}"
    elif isinstance(exp, dict) and "dict" in exp:
        assert isinstance(got, dict) and set(got["dict"]) == set(exp["dict"]), f"{path}: keys differ"
        for k in exp["dict"]:
            _compare(got["dict"][k], exp["dict"][k], opts, f"{path}[{k!r}]")
    elif isinstance(exp, list):
        assert isinstance(got, list) and len(got) == len(exp), f"{path}: {got!r} != {exp!r}"
        for i, (g, e) in enumerate(zip(got, exp)):
            _compare(g, e, opts, f"{path}[{i}]")
    elif isinstance(exp, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        assert math.isclose(got, exp, rel_tol=1e-6, abs_tol=1e-7), f"{path}: {got} != {exp}"
    elif isinstance(exp, str) and isinstance(got, str):
        assert got == exp.replace("torch.", "dfm."), f"{path}:\n{got}\n!=\n{exp}"
    else:
        assert got == exp, f"{path}: {got!r} != {exp!r}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_case(case):
    name, code = case[0], case[1]
    opts = case[2] if len(case) > 2 else {}
    exp = EXPECTED[SAME_AS.get(name, name)]
    dfm.manual_seed(0)
    got = run_case(code, {"torch": dfm, "nn": nn, "F": F, "np": np})
    if "raises" in exp:
        assert "raises" in got, f"expected {exp['raises']} ({exp['message']}), got result {got.get('result')!r}"
        assert got["raises"] == exp["raises"], (
            f"expected {exp['raises']} ({exp['message']!r}), got {got['raises']}: {got['message']!r}"
        )
        assert got["message"], "the exception carries no message"
    else:
        assert "raises" not in got, f"raised {got.get('raises')}: {got.get('message')}"
        _compare(got["result"], exp["result"], opts)
