// GradBench's lse eval: log-sum-exp of a vector of any length N (a type parameter, read as
// x.length), computed stably as m + log Σ exp(x_i - m) with m = max x. The maximum is found
// as an index (an integer: nothing for the backward pass to keep), not as a running
// Math.max, whose reverse pass would replay N comparisons from a tape of N numbers. The
// gradient through m is 1 - Σ softmax = 0 in exact arithmetic, so either form gives the
// softmax; the C++ reference is cpp/gradbench/evals/lse.hpp.
import { type Tensor } from "adgen";

/** log Σ exp x[i]. */
export function lse<N extends number>(x: Tensor<[N]>): number {
  let im = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[im]) im = i;
  const m = x[im];
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}
