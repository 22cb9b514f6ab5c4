// The lse eval's functions: log-sum-exp of x and its gradient (the softmax of x).
import { list, vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { lse, lseGradInto } from "./model.grad.js";

interface Input {
  readonly x: readonly number[];
}

export function primal({ x }: Input): Prepared {
  const xs = vector(x);
  let y = 0;
  return { run: () => void (y = lse(xs)), output: () => y };
}

export function gradient({ x }: Input): Prepared {
  const xs = vector(x);
  const grads = { x: new Float64Array(xs.length) };
  return { run: () => void lseGradInto(xs, grads), output: () => list(grads.x) };
}
