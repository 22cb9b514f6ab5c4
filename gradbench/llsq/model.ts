// GradBench's linear least squares (evals/llsq, from cmpad's llsq_obj), written once for
// any number of coefficients D and any number of points n:
//
//   y(x) = 1/2 Σ_{i<n} (s_i - x_0 - x_1 t_i - x_2 t_i² - ... - x_{D-1} t_i^{D-1})²
//   t_i = -1 + 2 i / (n - 1),   s_i = sign(t_i)
//
// D is a size type parameter (read as x.length); n is an integer parameter (a loop bound,
// so it gets no gradient, and the generated code checks it is a non-negative integer).
// The polynomial is evaluated by Horner's rule, p = p t + x_j from j = D - 1 down: its
// reverse pass needs only t, so it keeps nothing, where the C++ reference's running power
// (cpp/gradbench/evals/llsq.hpp: r -= x_j power; power *= t) would keep every power.
import { type Tensor } from "adgen";

/** The least-squares objective of the polynomial with coefficients x at n points in [-1, 1]. */
export function llsq<D extends number>(x: Tensor<[D]>, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t = -1 + (i * 2) / (n - 1);
    let p = 0;
    for (let j = x.length - 1; j >= 0; j--) p = p * t + x[j];
    const r = Math.sign(t) - p;
    sum += r * r;
  }
  return sum / 2;
}
