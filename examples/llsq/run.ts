// GradBench's llsq at a few sizes (D coefficients, n points) from one generated file: the
// objective and its gradient, checked against the closed form dy/dx_j = -Σ_i r_i t_i^j.
// Compile first: npx adgen examples/llsq/model.ts
import { llsqGrad } from "./model.grad.js";

for (const [D, n] of [[3, 16], [8, 100], [128, 1024]] as const) {
  const x = Float64Array.from({ length: D }, (_, j) => 0.5 + 0.4 * Math.sin(2.1 * j + 1));
  const { value, grads } = llsqGrad(x, n);
  // The closed form, for comparison.
  const want = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    const t = -1 + (i * 2) / (n - 1);
    let r = Math.sign(t);
    for (let j = 0, p = 1; j < D; j++, p *= t) r -= x[j]! * p;
    for (let j = 0, p = 1; j < D; j++, p *= t) want[j]! -= r * p;
  }
  const err = Math.max(...Array.from(grads.x, (g, j) => Math.abs(g - want[j]!) / Math.max(1, Math.abs(want[j]!))));
  console.log(`D = ${D}, n = ${n}: y = ${value.toFixed(10)}, dy/dx_0..2 = [${Array.from(grads.x.slice(0, 3), (g) => g.toFixed(8)).join(", ")}], max relative error vs closed form ${err.toExponential(1)}`);
}
