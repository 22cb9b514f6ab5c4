// LeNet-5 on one real MNIST digit (from test/reference, with PyTorch's gradients): the
// loss and the gradient of every parameter, compared with PyTorch.
// Compile first: npx adgen examples/lenet5/model.ts
import { readFileSync } from "node:fs";
import { lossGrad, lossShapes } from "./model.grad.js";

const ref = JSON.parse(readFileSync(new URL("../../test/reference/lenet5_digit7.json", import.meta.url), "utf8"));
const args = Object.keys(lossShapes).map((k) => (ref.inputs[k].shape.length ? Float64Array.from(ref.inputs[k].data) : ref.inputs[k].data[0]));
const { value, grads } = (lossGrad as unknown as (...a: unknown[]) => { value: number; grads: Record<string, Float64Array> })(...args);
console.log(`loss = ${value} (PyTorch ${ref.output.data[0]})`);
for (const [name, g] of Object.entries(grads)) {
  const want: number[] = ref.grads[name].data;
  const err = Math.max(...want.map((w, i) => Math.abs(g[i]! - w) / Math.max(1, Math.abs(w))));
  console.log(`d${name.padEnd(4)} [${lossShapes[name as keyof typeof lossShapes].join(", ")}]: max relative error vs PyTorch ${err.toExponential(1)}`);
}
