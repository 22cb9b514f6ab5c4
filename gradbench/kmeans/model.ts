// GradBench's kmeans eval (from ADBench): the k-means cost of n points in d dimensions for k
// centroids, the sum over the points of the squared distance to the closest centroid. The
// eval's `cost` is this function; its `dir` (the Newton direction -J / diag H of the cost with
// respect to the centroids) needs second derivatives, which this tool leaves for forward mode.
// The loops are GradBench's C++ reference (cpp/gradbench/evals/kmeans.hpp), line for line.
import { type Tensor } from "adgen";

/** Σ_i min_j ‖points_i - centroids_j‖². */
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
