// The gmm eval's functions: the log posterior of the Gaussian mixture, and its gradient with
// respect to alpha, mu, q and l (the eval calls it the Jacobian).
import { list, matrix, rows, vector } from "../json.js";
import type { Prepared } from "../protocol.js";
import { gmmGradInto, gmmInto } from "./model.grad.js";

type Rows = readonly (readonly number[])[];

interface Input {
  readonly d: number;
  readonly k: number;
  readonly n: number;
  readonly alpha: readonly number[];
  readonly mu: Rows;
  readonly q: Rows;
  readonly l: Rows;
  readonly x: Rows;
  readonly gamma: number;
  readonly m: number;
}

/** The input as the generated gmm takes it. */
function args(input: Input) {
  return [vector(input.alpha), matrix(input.mu, "mu"), matrix(input.q, "q"), matrix(input.l, "l"), matrix(input.x, "x")] as const;
}

export function objective(input: Input): Prepared {
  const [alpha, mu, q, l, x] = args(input);
  let y = 0;
  return { run: () => void (y = gmmInto(alpha, mu, q, l, x, input.gamma, input.m)), output: () => y };
}

export function jacobian(input: Input): Prepared {
  const [alpha, mu, q, l, x] = args(input);
  const grads = { alpha: new Float64Array(alpha.length), mu: new Float64Array(mu.length), q: new Float64Array(q.length), l: new Float64Array(l.length) };
  const { d } = input;
  return {
    run: () => void gmmGradInto(alpha, mu, q, l, x, input.gamma, input.m, grads),
    output: () => ({ alpha: list(grads.alpha), mu: rows(grads.mu, d), q: rows(grads.q, d), l: rows(grads.l, (d * (d - 1)) / 2) }),
  };
}
