#!/usr/bin/python3
"""PyTorch float64 references for the size-generic examples (examples/lse, llsq, ode, gmm,
lstm, mnist-any-batch): for fixed seeded inputs at two sizes each, the value and the gradient
with respect to every differentiated input, written to test/fixtures-sizes/<example>.json.
test/sizeExamples.test.ts compares adgen's generated code with them (CI has no torch, so the
JSON files are committed). Run from the repository root:

    /usr/bin/python3 scripts/torch-size-refs.py

The GMM reference is GradBench's own PyTorch objective (tools/pytorch/gmm_objective.py in
/work/shared/gradbench/snapshot), imported as is.

Each file: {"example", "description", "cases": [{"sizes", "inputs": {name: {shape, data}},
"wrt": [names], "output": {shape, data}, "grads": {name: {shape, data}}}]}; the mnist-any-batch
inputs are formulas the test recomputes, and its dw1 is sampled (see mnist_cases).
"""

import json
import math
import os
import sys

import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures-sizes")
GRADBENCH = "/work/shared/gradbench/snapshot/python/gradbench"


def tensor_json(t):
    t = torch.as_tensor(t, dtype=torch.float64).detach()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def case(sizes, inputs, wrt, fn):
    """Evaluates fn(**inputs), differentiates its (scalar) result with respect to `wrt`."""
    leaves = {k: (v.clone().requires_grad_(True) if k in wrt else v) for k, v in inputs.items()}
    out = fn(**leaves)
    grads = torch.autograd.grad(out, [leaves[k] for k in wrt])
    return {
        "sizes": sizes,
        "inputs": {k: tensor_json(v) for k, v in inputs.items()},
        "wrt": list(wrt),
        "output": tensor_json(out),
        "grads": {k: tensor_json(g) for k, g in zip(wrt, grads)},
    }


def write(example, description, cases):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{example}.json")
    with open(path, "w") as f:
        json.dump({"example": example, "description": description, "cases": cases}, f)
        f.write("\n")
    print(f"{path}: {len(cases)} cases, sizes {[c['sizes'] for c in cases]}")


def integer(n):
    """An integer parameter, stored as a 0-d tensor so that every input has a shape."""
    return torch.tensor(float(n))


# --- lse: log Σ exp x --------------------------------------------------------------------


def lse_cases():
    g = torch.Generator().manual_seed(11)
    cases = []
    for n in (5, 300):
        x = torch.randn(n, generator=g) * 3
        cases.append(case({"N": n}, {"x": x}, ["x"], lambda x: torch.logsumexp(x, 0)))
    return cases


# --- llsq: GradBench's linear least squares ----------------------------------------------


def llsq(x, n):
    n = int(n)
    i = torch.arange(n, dtype=torch.float64)
    t = -1 + (i * 2) / (n - 1)
    powers = torch.stack([t**j for j in range(x.shape[0])], 1)  # [n, D]
    r = torch.sign(t) - powers @ x
    return (r * r).sum() / 2


def llsq_cases():
    g = torch.Generator().manual_seed(12)
    cases = []
    for d, n in ((4, 16), (12, 200)):
        x = torch.rand(d, generator=g)
        cases.append(case({"D": d, "n": n}, {"x": x, "n": integer(n)}, ["x"], llsq))
    return cases


# --- ode: GradBench's ODE, RK4, gradient of the last element -----------------------------


def ode_rhs(x, y):
    return torch.cat([x[:1], x[1:] * y[:-1]])


def ode_solve(x, s):
    s = int(s)
    h = 2 / s
    y = torch.zeros_like(x)
    for _ in range(s):
        k1 = ode_rhs(x, y)
        k2 = ode_rhs(x, y + h * k1 / 2)
        k3 = ode_rhs(x, y + h * k2 / 2)
        k4 = ode_rhs(x, y + h * k3)
        y = y + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return y


def ode_cases():
    g = torch.Generator().manual_seed(13)
    cases = []
    for n, s in ((4, 10), (9, 50)):
        x = torch.rand(n, generator=g) + 0.5
        c = case({"N": n, "s": s}, {"x": x, "s": integer(s)}, ["x"], lambda x, s: ode_solve(x, s)[-1])
        c["solution"] = tensor_json(ode_solve(x, s))  # the whole y(2), for `ode`
        cases.append(c)
    return cases


# --- gmm: GradBench's GMM objective, its own PyTorch code --------------------------------
# (m is a 0-d tensor, as GradBench's tools/pytorch/gmm.py passes it.)


def gmm_cases():
    sys.path.insert(0, GRADBENCH)
    from gradbench.tools.pytorch.gmm_objective import gmm_objective

    g = torch.Generator().manual_seed(14)
    cases = []
    for d, k, n, gamma, m in ((2, 3, 10, 1.0, 0), (5, 4, 30, 0.8, 3)):
        inputs = {
            "alpha": torch.randn(k, generator=g),
            "mu": torch.randn(k, d, generator=g),
            "q": torch.randn(k, d, generator=g) * 0.3,
            "l": torch.randn(k, d * (d - 1) // 2, generator=g) * 0.3,
            "x": torch.randn(n, d, generator=g) * 1.5,
            "gamma": torch.tensor(gamma),
            "m": integer(m),
        }

        def objective(alpha, mu, q, l, x, gamma, m):
            return gmm_objective(d=d, k=k, n=n, x=x, m=m, gamma=float(gamma), alpha=alpha, mu=mu, q=q, l=l)

        cases.append(case({"d": d, "k": k, "n": n, "gamma": gamma, "m": m}, inputs, ["alpha", "mu", "q", "l"], objective))
    return cases


# --- lstm: GradBench's LSTM objective, its own PyTorch code -------------------------------
# (main_params is [2L, 4B] there; the example takes it as [2L, 4, B], the same row-major data.)


def lstm_cases():
    sys.path.insert(0, GRADBENCH)
    from gradbench.tools.pytorch.lstm_objective import lstm_objective

    g = torch.Generator().manual_seed(21)
    cases = []
    for layers, b, c in ((1, 3, 4), (2, 5, 9)):
        inputs = {
            "main": torch.randn(2 * layers, 4, b, generator=g) * 0.5,
            "extra": torch.randn(3, b, generator=g) * 0.5,
            "state": torch.randn(2 * layers, b, generator=g) * 0.5,
            "seq": torch.randn(c, b, generator=g),
        }

        def objective(main, extra, state, seq):
            return lstm_objective(main.reshape(2 * layers, 4 * b), extra, state, seq)

        cases.append(case({"L2": 2 * layers, "B": b, "C": c}, inputs, ["main", "extra"], objective))
    return cases


# --- mnist-any-batch: 784 -> 64 -> relu -> 10, mean cross-entropy --------------------------
# The full inputs and dw1 would make a 5 MB fixture, so the inputs are formulas of the flat
# index i that the test recomputes in JavaScript (sin/cos differ by at most an ulp there,
# far below the 1e-9 tolerance), and dw1 is stored at every 31st entry plus its projection
# on a dense direction, which involves every entry. db1, w2, b2's gradients are stored whole.

W1_STRIDE = 31


def wave(n, a, b, scale, fn=torch.sin):
    return scale * fn(a * torch.arange(n, dtype=torch.float64) + b)


def mnist_inputs(n):
    return {
        "x": wave(n * 784, 0.731, float(n), 1.2).reshape(n, 784),
        "labels": torch.tensor([float((7 * i + 3) % 10) for i in range(n)]),
        "w1": wave(64 * 784, 0.377, 1.0, 0.05).reshape(64, 784),
        "b1": wave(64, 1.3, 0.0, 0.1, torch.cos),
        "w2": wave(10 * 64, 0.91, 2.0, 0.15).reshape(10, 64),
        "b2": wave(10, 0.7, 1.0, 0.1, torch.cos),
    }


def mlp_loss(x, labels, w1, b1, w2, b2):
    h = torch.relu(x @ w1.T + b1)
    return torch.nn.functional.cross_entropy(h @ w2.T + b2, labels.long())


def mnist_cases():
    cases = []
    for n in (32, 17):
        c = case({"N": n}, mnist_inputs(n), ["w1", "b1", "w2", "b2"], mlp_loss)
        c["inputs"] = {k: {"shape": v["shape"], "formula": "see mnist_inputs in scripts/torch-size-refs.py"} for k, v in c["inputs"].items()}
        dw1 = torch.tensor(c["grads"]["w1"]["data"])
        direction = wave(dw1.numel(), 0.113, 0.5, 1.0, torch.cos)
        c["grads"]["w1"] = {
            "shape": c["grads"]["w1"]["shape"],
            "stride": W1_STRIDE,
            "data": dw1[::W1_STRIDE].tolist(),
            "projection": {"direction": "cos(0.113 i + 0.5)", "value": float(dw1 @ direction)},
        }
        cases.append(c)
    return cases


if __name__ == "__main__":
    print(f"torch {torch.__version__}")
    write("lse", "torch.logsumexp of a vector of N", lse_cases())
    write("llsq", "GradBench llsq: 1/2 sum_i (sign t_i - sum_j x_j t_i^j)^2, t_i = -1 + 2i/(n-1)", llsq_cases())
    write("ode", "GradBench ode: RK4 with s steps to t = 2 of y_0' = x_0, y_i' = x_i y_{i-1}; output y_{N-1}(2)", ode_cases())
    write("gmm", "GradBench gmm: its PyTorch gmm_objective (log posterior), gradient wrt alpha, mu, q, l", gmm_cases())
    write("lstm", "GradBench lstm: its PyTorch lstm_objective over a sequence of C characters, L layers of width B", lstm_cases())
    write("mnist-any-batch", "784 -> 64 relu -> 10 MLP, mean cross-entropy over a batch of N; gradient wrt w1, b1, w2, b2", mnist_cases())
