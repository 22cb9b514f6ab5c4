// The llsq eval's functions: the least-squares objective of the coefficients x at n points,
// and its gradient with respect to x.
import { list, vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { llsq, llsqGradInto } from "./model.grad.js";

interface Input {
  readonly x: readonly number[];
  readonly n: number;
}

export function primal({ x, n }: Input): Prepared {
  const xs = vector(x);
  let y = 0;
  return { run: () => void (y = llsq(xs, n)), output: () => y };
}

export function gradient({ x, n }: Input): Prepared {
  const xs = vector(x);
  const grads = { x: new Float64Array(xs.length) };
  return { run: () => void llsqGradInto(xs, n, grads), output: () => list(grads.x) };
}
