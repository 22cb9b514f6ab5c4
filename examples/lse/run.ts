// Log-sum-exp at three lengths from one generated file: the value and its gradient, which
// is softmax(x) (so it sums to 1). The last vector's entries are near 1000, where a naive
// log(Σ exp x) overflows to Infinity; the max-subtraction keeps it finite.
// Compile first: npx adgen examples/lse/model.ts
import { lseGrad } from "./model.grad.js";

const fmt = (v: ArrayLike<number>, k = 4) => `[${Array.from(v).slice(0, k).map((a) => a.toFixed(6)).join(", ")}${v.length > k ? ", ..." : ""}]`;
for (const [N, offset] of [[3, 0], [10, 0], [1000, 1000]] as const) {
  const x = Float64Array.from({ length: N }, (_, i) => offset + Math.sin(1.3 * i + 0.4));
  const { value, grads } = lseGrad(x);
  const total = grads.x.reduce((a, b) => a + b, 0);
  console.log(`N = ${N}: lse = ${value.toFixed(12)}, dx = ${fmt(grads.x)}, sum(dx) = ${total.toFixed(12)}`);
}
