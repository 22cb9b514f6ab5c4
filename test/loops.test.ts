// Loops over tensors, differentiated in general: layers written out by hand get the
// gradients of the built-in layers, loop-carried state is restored correctly, and what a
// loop saves for the backward pass is only what it must.

import { describe, expect, it } from "vitest";
import { savedBytes } from "../compiler/ad/savedValues.js";
import { compileOrThrow, directionalCheck, importCode, maxRelErr, rng } from "./helpers.js";

const rand = (n: number, seed: number, scale = 1) => {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
};

describe("hand-written layers", () => {
  it("a convolution written as nested loops (channels, stride 2, padding 1) gets conv2d's gradient", async () => {
    const source = `
import { type Tensor, conv2d, zeros, sum, mul } from "adgen";

function convByHand(x: Tensor<[2, 7, 7]>, w: Tensor<[3, 2, 3, 3]>, b: Tensor<[3]>): Tensor<[3, 4, 4]> {
  const y = zeros([3, 4, 4]);
  for (let o = 0; o < 3; o++) {
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        let acc = b[o];
        for (let c = 0; c < 2; c++) {
          for (let ki = 0; ki < 3; ki++) {
            for (let kj = 0; kj < 3; kj++) {
              const h = i * 2 + ki - 1;
              const v = j * 2 + kj - 1;
              if (h >= 0 && h < 7 && v >= 0 && v < 7) {
                acc += x[c][h][v] * w[o][c][ki][kj];
              }
            }
          }
        }
        y[o][i][j] = acc;
      }
    }
  }
  return y;
}

export function byHand(x: Tensor<[2, 7, 7]>, w: Tensor<[3, 2, 3, 3]>, b: Tensor<[3]>, g: Tensor<[3, 4, 4]>): number {
  return sum(mul(convByHand(x, w, b), g));
}

export function builtin(x: Tensor<[2, 7, 7]>, w: Tensor<[3, 2, 3, 3]>, b: Tensor<[3]>, g: Tensor<[3, 4, 4]>): number {
  return sum(mul(conv2d(x, w, b, { stride: 2, padding: 1 }), g));
}
`;
    const r = await compileOrThrow(source);
    const m = await importCode<Record<string, any>>(r.code!);
    const args = [rand(98, 1), rand(54, 2), rand(3, 3), rand(48, 4)];
    const a = m.byHandGrad(...args);
    const b = m.builtinGrad(...args);
    expect(maxRelErr(a.value, b.value)).toBeLessThan(1e-13);
    for (const k of ["x", "w", "b", "g"]) expect(maxRelErr(a.grads[k], b.grads[k]), k).toBeLessThan(1e-13);
    // the hand-written loop's backward pass saves no tape: its `+=` needs no forward value
    const hand = r.entries.find((e) => e.entry.name === "byHand")!;
    expect(savedBytes(hand.grad, hand.entry.params.length)).toBeLessThanOrEqual(48 * 8);
  });

  it("a max-pool written with if (v > m) gets maxpool2d's gradient, ties included", async () => {
    const source = `
import { type Tensor, maxpool2d, zeros, sum, mul } from "adgen";

export function byHand(x: Tensor<[2, 6, 6]>, g: Tensor<[2, 3, 3]>): number {
  const y = zeros([2, 3, 3]);
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let m = x[c][i * 2][j * 2];
        for (let ki = 0; ki < 2; ki++) {
          for (let kj = 0; kj < 2; kj++) {
            const v = x[c][i * 2 + ki][j * 2 + kj];
            if (v > m) {
              m = v;
            }
          }
        }
        y[c][i][j] = m;
      }
    }
  }
  return sum(mul(y, g));
}

export function builtin(x: Tensor<[2, 6, 6]>, g: Tensor<[2, 3, 3]>): number {
  return sum(mul(maxpool2d(x, { size: 2 }), g));
}
`;
    const m = await importCode<Record<string, any>>((await compileOrThrow(source)).code!);
    const r = rng(5);
    // small integers: many ties, including all-equal and all-negative windows
    const x = Float64Array.from({ length: 72 }, () => Math.floor(r() * 3) - 2);
    const g = rand(18, 6);
    const a = m.byHandGrad(x, g);
    const b = m.builtinGrad(x, g);
    expect(a.value).toEqual(b.value);
    expect(a.grads.x).toEqual(b.grads.x);
    expect(a.grads.g).toEqual(b.grads.g);
  });
});

describe("loop-carried state", () => {
  it("an RNN's hidden state is restored step by step (finite differences)", async () => {
    const source = `
import { type Tensor, add, crossEntropy, linear, tanh } from "adgen";
export function loss(xs: Tensor<[6, 3]>, h0: Tensor<[4]>, W: Tensor<[4, 4]>, U: Tensor<[4, 3]>, b: Tensor<[4]>, V: Tensor<[2, 4]>): number {
  let h = h0;
  for (let t = 0; t < 6; t++) {
    h = tanh(add(linear(h, W, b), linear(xs[t], U)));
  }
  return crossEntropy(linear(h, V), 1);
}
`;
    const r = await compileOrThrow(source);
    const m = await importCode<Record<string, any>>(r.code!);
    const args = [rand(18, 1), rand(4, 2), rand(16, 3), rand(12, 4), rand(4, 5), rand(8, 6)];
    const { grads } = m.lossGrad(...args);
    const err = directionalCheck((a) => m.loss(...a), args, ["xs", "h0", "W", "U", "b", "V"].map((k) => grads[k]), { directions: 4 });
    expect(err).toBeLessThan(1e-6);
    // the tape is the hidden state of each step (a stack the backward pass pops), nothing else
    const e = r.entries[0]!;
    expect(r.adjointIr).toMatch(/%hTape\.\d+: tape = push %hTape\.\d+, %h\.\d+/);
    expect(r.adjointIr).toMatch(/%h\.\d+: f64\[4\] = peek %hTape\.\d+/);
    expect(savedBytes(e.grad, e.entry.params.length)).toBeLessThan(2000);
  });

  it("loops counting down, with steps of 2, nested and carrying several values", async () => {
    const source = `
import { type Tensor } from "adgen";
export function f(c: Tensor<[9]>, x: number): number {
  let p = 0;
  let q = 1;
  for (let k = 8; k >= 0; k -= 2) {
    for (let r = 0; r < 3; r++) {
      const t = p;
      p = q * x + c[k] * Math.sin(t);
      q = t + 0.5 * q;
    }
  }
  return p * q;
}
`;
    const m = await importCode<Record<string, any>>((await compileOrThrow(source)).code!);
    const args = [rand(9, 9, 0.5), 0.7];
    const { value, grads } = m.fGrad(...args);
    expect(value).toEqual(m.f(...args));
    expect(directionalCheck((a) => m.f(...a), args, [grads.c, grads.x], { directions: 4 })).toBeLessThan(1e-6);
  });

  it("an element overwritten in a loop passes no gradient from its old value", async () => {
    const source = `
import { type Tensor, zeros, sum } from "adgen";
export function f(x: Tensor<[4]>): number {
  const y = zeros([4]);
  for (let i = 0; i < 4; i++) {
    y[i] = x[i] * x[i];
  }
  for (let i = 0; i < 4; i++) {
    y[i] = y[i] * 3 + (i < 2 ? y[i + 1] : 0);
  }
  return sum(y);
}
`;
    const m = await importCode<Record<string, any>>((await compileOrThrow(source)).code!);
    const x = Float64Array.from([0.5, -1, 2, 0.25]);
    const { value, grads } = m.fGrad(x);
    // y = [3x0²+x1², 3x1²+x2², 3x2², 3x3²]
    expect(value).toBeCloseTo(3 * 0.25 + 1 + 3 * 1 + 4 + 3 * 4 + 3 * 0.0625, 12);
    expect(Array.from(grads.x)).toEqual([6 * 0.5, 6 * -1 + 2 * -1, 6 * 2 + 2 * 2, 6 * 0.25]);
  });
});
