#!/usr/bin/python3
# The PyTorch peer of the benchmark: a long-lived worker that bench/peers/pytorch.ts starts
# once and drives over JSON lines (one request per line on stdin, one reply per line on
# stdout), so that the benchmark can take one timed sample of a PyTorch subject at a time,
# interleaved with its in-process JavaScript subjects. PyTorch eager on one thread
# (torch.set_num_threads(1)), float64 or float32, the benchmark's LeNet-5 and 784-128-10 MLP:
# the same shapes, parameter layouts (ours are PyTorch's: conv weight [O, C, KH, KW], linear
# weight [out, in], NCHW images) and loss (softmax cross-entropy, mean over the batch).
#
# A step is the forward pass, the loss and torch.autograd.grad of every parameter (no
# gradient for the input), with loss.item() read back; a forward pass runs under
# torch.no_grad(). Times are measured here, on the worker's side of the pipe: a sample is
# `reps` calls after one untimed call (as the JavaScript subjects do), with both the wall
# clock (time.perf_counter) and the process's CPU time (time.process_time, every thread),
# per call, in milliseconds. `reps` is set by a warm-up as on the JavaScript side.
#
# Requests ({"id": n, "cmd": ...}; every reply echoes "id" and has "ok"):
#   {"cmd": "setup", "key": "lenet_b32_float64", "model": "lenet" | "mlp", "batch": N,
#    "dtype": "float64" | "float32", "params": {name: base64}, "shapes": {name: [int]},
#    "x": base64, "labels": [int]}
#       -> {"loss": float, "grads": {name: base64}} from one step (float64 little-endian
#          bytes in and out, whatever the dtype)
#   {"cmd": "warmup", "key": k, "what": "step" | "forward", "warmupMs": ms, "sampleMs": ms}
#       -> {"reps": r, "eachMs": ms}
#   {"cmd": "sample", "key": k, "what": "step" | "forward"} -> {"wallMs": ms, "cpuMs": ms}
#   {"cmd": "quit"} (or end of input) -> exits
# The first line the worker writes is {"ready": true, "torch": version, "threads": n}, or
# {"ready": false, "error": message} when `import torch` fails (then it exits).

import base64
import gc
import json
import sys
import time
import traceback


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # ImportError, or a broken installation (missing shared library)
    send({"ready": False, "error": f"import torch failed: {type(e).__name__}: {e}"})
    sys.exit(0)

torch.set_num_threads(1)

LENET_PARAMS = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b"]
MLP_PARAMS = ["w1", "b1", "w2", "b2"]


def lenet_loss(p, x, labels):
    h = F.max_pool2d(F.relu(F.conv2d(x, p["c1w"], p["c1b"], padding=2)), 2, 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["c2w"], p["c2b"])), 2, 2)
    h = h.reshape(h.shape[0], 400)
    h = F.relu(F.linear(h, p["f1w"], p["f1b"]))
    h = F.relu(F.linear(h, p["f2w"], p["f2b"]))
    return F.cross_entropy(F.linear(h, p["f3w"], p["f3b"]), labels)


def mlp_loss(p, x, labels):
    h = torch.sigmoid(F.linear(x, p["w1"], p["b1"]))
    return F.cross_entropy(F.linear(h, p["w2"], p["b2"]), labels)


MODELS = {
    "lenet": (lenet_loss, LENET_PARAMS, [1, 28, 28]),
    "mlp": (mlp_loss, MLP_PARAMS, [784]),
}
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def decode(b64, dtype, shape=None):
    """A float64 little-endian base64 buffer as a tensor of `dtype` (a copy that owns its memory)."""
    t = torch.frombuffer(bytearray(base64.b64decode(b64)), dtype=torch.float64).to(dtype)
    return t if shape is None else t.reshape(shape)


def encode(t):
    return base64.b64encode(t.detach().to(torch.float64).contiguous().numpy().tobytes()).decode("ascii")


class Subject:
    """One model at one batch size and dtype: its tensors and its two timed calls."""

    def __init__(self, req):
        loss_fn, names, sample_shape = MODELS[req["model"]]
        dtype = DTYPES[req["dtype"]]
        batch = int(req["batch"])
        self.names = names
        shapes = req["shapes"]
        self.params = [decode(req["params"][k], dtype, shapes[k]).requires_grad_(True) for k in names]
        by_name = dict(zip(names, self.params))
        self.x = decode(req["x"], dtype, [batch] + sample_shape)
        self.labels = torch.tensor(req["labels"], dtype=torch.int64)
        if self.labels.shape != (batch,):
            raise ValueError(f"expected {batch} labels, got {tuple(self.labels.shape)}")
        self.loss = lambda: loss_fn(by_name, self.x, self.labels)
        self.reps = {"step": 1, "forward": 1}
        self.grads = None

    def step(self):
        loss = self.loss()
        self.grads = torch.autograd.grad(loss, self.params)
        return loss.item()

    def forward(self):
        with torch.no_grad():
            return self.loss().item()

    def call(self, what):
        return self.step() if what == "step" else self.forward()


subjects = {}
sink = 0.0


def handle(req):
    global sink
    cmd = req["cmd"]
    if cmd == "setup":
        s = Subject(req)
        subjects[req["key"]] = s
        loss = s.step()
        return {"loss": loss, "grads": {k: encode(g) for k, g in zip(s.names, s.grads)}}
    s = subjects[req["key"]]
    what = req["what"]
    if what not in ("step", "forward"):
        raise ValueError(f"unknown call {what!r}")
    if cmd == "warmup":
        # at least 3 calls and warmupMs, then as many calls per sample as last sampleMs
        t0 = time.perf_counter()
        n = 0
        while n < 3 or (time.perf_counter() - t0) * 1e3 < req["warmupMs"]:
            sink += s.call(what)
            n += 1
        each = (time.perf_counter() - t0) * 1e3 / n
        s.reps[what] = max(1, round(req["sampleMs"] / each))
        return {"reps": s.reps[what], "eachMs": each}
    if cmd == "sample":
        reps = s.reps[what]
        gc.collect()
        if reps > 1:
            sink += s.call(what)
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(reps):
            sink += s.call(what)
        wall = (time.perf_counter() - t0) * 1e3 / reps
        cpu = (time.process_time() - c0) * 1e3 / reps
        return {"wallMs": wall, "cpuMs": cpu}
    raise ValueError(f"unknown command {cmd!r}")


def main():
    send({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("cmd") == "quit":
            break
        try:
            reply = handle(req)
            reply.update({"id": req.get("id"), "ok": True})
        except Exception as e:
            reply = {"id": req.get("id"), "ok": False, "error": f"{type(e).__name__}: {e}",
                     "trace": traceback.format_exc()}
        send(reply)
    if sink != sink:  # NaN: a loss was not finite
        sys.stderr.write("pytorch worker: a loss was not finite\n")


main()
