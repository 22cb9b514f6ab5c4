// The ode eval's functions: the RK4 solution y(2) after s steps, and the gradient of its last
// element with respect to x.
import { list, vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { odeInto, odeLastGradInto } from "./model.grad.js";

interface Input {
  readonly x: readonly number[];
  readonly s: number;
}

export function primal({ x, s }: Input): Prepared {
  const xs = vector(x);
  const y = new Float64Array(xs.length);
  return { run: () => odeInto(xs, s, y), output: () => list(y) };
}

export function gradient({ x, s }: Input): Prepared {
  const xs = vector(x);
  const grads = { x: new Float64Array(xs.length) };
  return { run: () => void odeLastGradInto(xs, s, grads), output: () => list(grads.x) };
}
