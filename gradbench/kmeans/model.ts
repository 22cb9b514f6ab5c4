// GradBench's kmeans eval (from ADBench): the k-means cost of n points in d dimensions for k
// centroids, the sum over the points of the squared distance to the closest centroid. The
// eval's `cost` is this function; its `dir` (the gradient with respect to the centroids divided
// by the Hessian's diagonal) is costHvp's grads over its hvp with a direction of ones, as
// kmeans/functions.ts explains. Only the centroids are differentiated (`@wrt`): GradBench asks
// for no derivative with respect to the points.
// The loops are GradBench's C++ reference (cpp/gradbench/evals/kmeans.hpp), line for line.
import { type Tensor } from "adgen";

/**
 * Σ_i min_j ‖points_i - centroids_j‖².
 * @wrt centroids
 */
export function cost<N extends number, K extends number, D extends number>(
  points: Tensor<[N, D]>, centroids: Tensor<[K, D]>,
): number {
  const d = points[0].length;
  let total = 0;
  for (let i = 0; i < points.length; i++) {
    let closest = Number.POSITIVE_INFINITY;
    for (let j = 0; j < centroids.length; j++) {
      let dist = 0;
      for (let l = 0; l < d; l++) {
        const diff = points[i][l] - centroids[j][l];
        dist += diff * diff;
      }
      closest = Math.min(closest, dist);
    }
    total += closest;
  }
  return total;
}
