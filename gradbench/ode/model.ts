// GradBench's ODE (evals/ode, from cmpad's an_ode), written once for any state size N and
// any number of steps s: classical Runge-Kutta (RK4) with s steps of h = 2 / s from y(0) = 0
// to t = 2 for
//
//   y_0' = x_0,   y_i' = x_i y_{i-1}  (i > 0)
//
// N is a size type parameter (read as x.length); s is an integer parameter (the number of
// steps, a loop bound: no gradient). GradBench differentiates the last element of the
// solution, `odeLast`. The loops are GradBench's C++ reference (cpp/gradbench/evals/ode.hpp):
// the state y and the stage input are tensors updated in place, one element at a time.
import { type Tensor, zeros } from "adgen";

/** The right-hand side f(x, y): z_0 = x_0, z_i = x_i y_{i-1}. */
function rhs<N extends number>(x: Tensor<[N]>, y: Tensor<[N]>): Tensor<[N]> {
  const z = zeros([x.length]);
  z[0] = x[0];
  for (let i = 1; i < x.length; i++) z[i] = x[i] * y[i - 1];
  return z;
}

/** The RK4 solution y(2) after s steps. */
export function ode<N extends number>(x: Tensor<[N]>, s: number): Tensor<[N]> {
  const n = x.length;
  const h = 2 / s;
  const y = zeros([n]);
  const stage = zeros([n]);
  for (let step = 0; step < s; step++) {
    const k1 = rhs(x, y);
    for (let i = 0; i < n; i++) stage[i] = y[i] + (h * k1[i]) / 2;
    const k2 = rhs(x, stage);
    for (let i = 0; i < n; i++) stage[i] = y[i] + (h * k2[i]) / 2;
    const k3 = rhs(x, stage);
    for (let i = 0; i < n; i++) stage[i] = y[i] + h * k3[i];
    const k4 = rhs(x, stage);
    for (let i = 0; i < n; i++) y[i] += (h * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i])) / 6;
  }
  return y;
}

/** The last element of the solution, y_{N-1}(2): what GradBench's `gradient` differentiates. */
export function odeLast<N extends number>(x: Tensor<[N]>, s: number): number {
  const y = ode(x, s);
  return y[x.length - 1];
}
