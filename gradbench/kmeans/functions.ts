// The kmeans eval's functions: the cost of the centroids. `dir`, the Newton direction
// -J / diag H, needs the cost's second derivatives (forward over reverse), so it answers
// with an error naming what it needs.
import { matrix } from "../json.js";
import type { Prepared } from "../protocol.js";
import { cost as costFn } from "./model.grad.js";

interface Input {
  readonly points: readonly (readonly number[])[];
  readonly centroids: readonly (readonly number[])[];
}

export function cost({ points, centroids }: Input): Prepared {
  const p = matrix(points, "points");
  const c = matrix(centroids, "centroids");
  const sizes = { N: points.length, K: centroids.length, D: points[0]?.length ?? 0 };
  let y = 0;
  return { run: () => void (y = costFn(p, c, sizes)), output: () => y };
}

export function dir(): Prepared {
  throw new Error("kmeans dir needs the diagonal of the cost's Hessian (second order), which adgen does not generate yet");
}
