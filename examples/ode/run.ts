// GradBench's ODE at a few state sizes N and step counts s from one generated file: the RK4
// solution y(2) and the gradient of its last element. With x = 1 everywhere the exact
// solution is y_i(t) = t^(i+1) / (i+1)!, so y_{N-1}(2) = 2^N / N!, and RK4's error shrinks
// as h⁴ when s grows (16 times
// smaller for twice the steps; for N ≤ 4 the solution is a polynomial of degree ≤ 4, which RK4
// integrates exactly).
// Compile first: npx adgen examples/ode/model.ts
import { ode, odeLastGrad } from "./model.grad.js";

const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
const fmt = (v: ArrayLike<number>) => `[${Array.from(v, (a) => a.toFixed(8)).join(", ")}]`;
for (const [N, s] of [[4, 10], [6, 10], [6, 20], [12, 200]] as const) {
  const ones = new Float64Array(N).fill(1);
  const exact = 2 ** N / fact(N);
  console.log(`N = ${N}, s = ${s}, x = 1: y(2) = ${fmt(ode(ones, s))}, error of y_{N-1} ${Math.abs(ode(ones, s)[N - 1]! - exact).toExponential(2)}`);
  const x = Float64Array.from({ length: N }, (_, i) => 1 + 0.3 * Math.cos(i));
  const { value, grads } = odeLastGrad(x, s);
  console.log(`  x = 1 + 0.3 cos i: y_{N-1}(2) = ${value.toFixed(10)}, d/dx = ${fmt(grads.x)}`);
}
