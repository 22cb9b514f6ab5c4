"""Gradients of adgen's scalar ops at their special points, computed by PyTorch (float64).

Writes points.json beside this file; test/specialPoints.test.ts compares adgen's generated
gradients with it. Run with Debian's torch: /usr/bin/python3 test/special/pytorch_points.py
Where adgen's documented convention differs from PyTorch (ties of max/min, JavaScript's
1 ** NaN), the expected value is adgen's and the entry says why.
"""
import json, math, os
import torch

torch.set_default_dtype(torch.float64)
INF, NAN = math.inf, math.nan
UNARY_POINTS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, INF, -INF, NAN]
PAIRS = [(0.0, 0.0), (-0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (0.0, 2.0), (2.0, 0.0), (0.0, 1.0), (0.0, 0.5),
         (0.0, -1.0), (-1.0, 2.0), (-1.0, 3.0), (-1.0, 0.5), (2.0, 1.0), (3.0, -2.0), (NAN, 1.0), (1.0, NAN),
         (INF, 1.0), (1.0, INF), (-INF, 2.0), (INF, INF), (0.5, -INF)]

UNARY = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan,
    "tanh": torch.tanh, "sqrt": torch.sqrt, "abs": torch.abs, "asin": torch.asin, "acos": torch.acos,
    "atan": torch.atan, "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh, "acosh": torch.acosh,
    "atanh": torch.atanh, "log1p": torch.log1p, "expm1": torch.expm1, "log2": torch.log2, "log10": torch.log10,
    "sign": torch.sign, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "trunc": torch.trunc,
    "sigmoid": torch.sigmoid, "relu": torch.relu,
}
BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "atan2": torch.atan2, "hypot": torch.hypot, "max": torch.maximum, "min": torch.minimum, "mod": torch.fmod,
}

def enc(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v

def unary(f, x):
    t = torch.tensor(x, requires_grad=True)
    f(t).backward()
    return [t.grad.item()]

def binary(f, a, b):
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    f(ta, tb).backward()
    return [ta.grad.item(), tb.grad.item()]

cases = []
for op, f in UNARY.items():
    for x in UNARY_POINTS:
        cases.append({"op": op, "args": [enc(x)], "grads": [enc(g) for g in unary(f, x)]})
for op, f in BINARY.items():
    for a, b in PAIRS:
        grads = binary(f, a, b)
        case = {"op": op, "args": [enc(a), enc(b)], "grads": [enc(g) for g in grads]}
        if op in ("max", "min") and a == b:
            # SPEC section 4: a tie sends the gradient to the first argument (PyTorch splits it)
            case["grads"] = [1.0, 0.0]
            case["convention"] = "a tie goes to the first argument (PyTorch splits it)"
        if op == "pow" and a == 1.0 and (math.isnan(b) or math.isinf(b)):
            # JavaScript's 1 ** NaN and 1 ** Infinity are NaN (C's pow gives 1), and so their derivatives
            case["grads"] = ["NaN", "NaN"]
            case["convention"] = "JavaScript: 1 ** NaN and 1 ** Infinity are NaN"
        cases.append(case)

out = {"source": "PyTorch %s, float64, torch.autograd" % torch.__version__, "cases": cases}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "points.json"), "w") as fh:
    fh.write('{"source": %s,\n "cases": [\n' % json.dumps(out["source"]))
    fh.write(",\n".join("  " + json.dumps(c) for c in cases))
    fh.write("\n]}\n")
print(len(cases), "cases")
