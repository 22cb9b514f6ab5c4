// The RNN: value and gradients of the classifier loss over a 6-step sequence.
// Compile first: npx adgen examples/rnn/model.ts
import { lossGrad } from "./model.grad.js";

const fill = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + k) * 0.5);
const { value, grads } = lossGrad(fill(18, 1), 1, fill(4, 2), fill(16, 3), fill(12, 4), fill(4, 5), fill(8, 6), fill(2, 7));
console.log(`loss = ${value}`);
for (const [k, g] of Object.entries(grads) as [string, Float64Array][]) {
  console.log(`d${k} = [${Array.from(g, (v) => v.toFixed(5)).join(", ")}]`);
}
