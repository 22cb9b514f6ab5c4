// `node dist/compiler/cli.js --emit stats repros/stats-symbolic-bytes.ts` prints
//   f: the tape keeps 1 intermediate value, [object Object] bytes (besides the parameters)
// compiler/cli.ts:261 interpolates the Dim that savedBytes returns (8·N·3 here) without
// formatting it; SPEC §5 promises a formula of the sizes ("8·N + 16 bytes").
import { type Tensor, linear, relu, sum } from "adgen";

export function f<N extends number>(x: Tensor<[N, 4]>, w: Tensor<[3, 4]>): number {
  return sum(relu(linear(x, w)));
}
