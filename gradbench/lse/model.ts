// Log-sum-exp of a vector of any length, written once: the length N is a type parameter,
// read in the body as `x.length`. The generated `lseGrad` reads N from the array it is
// given, so one compiled file serves every length. The maximum is subtracted first so that
// exp never overflows (GradBench's lse eval computes the same thing).
import { type Tensor } from "adgen";

/** log Σ exp x[i], computed stably as m + log Σ exp(x[i] - m) with m = max x. */
export function lse<N extends number>(x: Tensor<[N]>): number {
  let m = x[0];
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}
