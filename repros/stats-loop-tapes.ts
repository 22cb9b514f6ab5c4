// `node dist/compiler/cli.js --emit stats repros/stats-loop-tapes.ts` prints
//   lse: the tape keeps 5 intermediate values, 32 bytes (besides the parameters)
//   decay: the tape keeps 2 intermediate values, 8 bytes (besides the parameters)
// but lseForward pushes the old m once per iteration onto mTape (N - 1 numbers) and
// decayForward pushes y once per step (steps numbers): the stack tapes, which grow with N
// and with `steps`, are not counted. SPEC §5: "--emit stats reports the tape as a formula
// of the sizes (8·N + 16 bytes)".
import { type Tensor } from "adgen";

export function lse<N extends number>(x: Tensor<[N]>): number {
  let m = x[0];
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

export function decay(y0: number, k: number, steps: number): number {
  let y = y0;
  for (let s = 0; s < steps; s++) y = y - 0.1 * k * y * y;
  return y;
}
