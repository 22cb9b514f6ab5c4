// The kmeans eval's functions: the cost of the centroids, and `dir`, the gradient J of the
// cost with respect to the centroids divided elementwise by the diagonal of its Hessian H
// (the eval's README: J * H^-1 with H diagonal; manual computes the same in closed form as
// centroid - mean of its cluster). Each point's distance to a centroid depends on that
// centroid only, and the closest one is picked by a comparison (no second derivative), so H is
// diagonal and one Hessian-vector product with a vector of ones (costHvp, forward over
// reverse) gives its diagonal, with the gradient from the same pass.
import { matrix, rows } from "../json.js";
import type { Prepared } from "../protocol.js";
import { costHvp, cost as costFn } from "./model.grad.js";

interface Input {
  readonly points: readonly (readonly number[])[];
  readonly centroids: readonly (readonly number[])[];
}

function prepare({ points, centroids }: Input): { p: Float64Array; c: Float64Array; sizes: { N: number; K: number; D: number } } {
  const sizes = { N: points.length, K: centroids.length, D: points[0]?.length ?? 0 };
  return { p: matrix(points, "points"), c: matrix(centroids, "centroids"), sizes };
}

export function cost(input: Input): Prepared {
  const { p, c, sizes } = prepare(input);
  let y = 0;
  return { run: () => void (y = costFn(p, c, sizes)), output: () => y };
}

export function dir(input: Input): Prepared {
  const { p, c, sizes } = prepare(input);
  // the direction and the result are made once per evaluate message, as manual sizes its output once
  const ones = { centroids: new Float64Array(c.length).fill(1) };
  const out = new Float64Array(c.length);
  const run = (): void => {
    const { grads, hvp } = costHvp(p, c, ones, sizes);
    for (let i = 0; i < out.length; i++) out[i] = grads.centroids[i]! / hvp.centroids[i]!;
  };
  return { run, output: () => rows(out, sizes.D) };
}
