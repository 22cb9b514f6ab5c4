// The seed's CNN (first convolution written out as loops): value and gradient sizes.
// Compile first: npx adgen examples/seed-cnn/model.ts
import { lossGrad } from "./model.grad.js";

const fill = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + k) * 0.3);
const { value, grads } = lossGrad(fill(144, 0), 3, fill(36, 1), fill(288, 2), fill(8, 3), fill(720, 4), fill(10, 5));
console.log(`loss = ${value}`);
for (const [k, g] of Object.entries(grads)) console.log(`d${k}: ${g.length} values, norm ${Math.hypot(...g).toFixed(6)}`);
