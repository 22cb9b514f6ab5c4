// `adgen --emit stats` (compiler/tools/tapeStats.ts): the tape as a formula of the sizes.
// The expected formulas are derived by hand from what each backward pass must read; one
// program's formula is also compared with the bytes its generated `modelForward` tape
// actually holds, at two sizes.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { evalDim } from "../compiler/ir/dims.js";
import { formatTapeStats, showBytes, tapeStats, type TapeStats } from "../compiler/tools/tapeStats.js";
import { compileOrThrow, importCode, rng } from "./helpers.js";

const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
});

const IMPORT = `import { type Tensor, linear, relu, sum } from "adgen";\n`;

// a batch of N rows through one linear layer: relu's adjoint reads the pre-activation,
// linearOut [N, 3]: 3·N numbers, 24·N bytes; nothing is overwritten, so no stack
const LAYER = `${IMPORT}
export function layer<N extends number>(x: Tensor<[N, 4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>): number {
  return sum(relu(linear(x, w, b)));
}
`;

// Euler steps of y' = -k y: each step overwrites y, and the adjoint of y * (-k) for k needs
// the old y: one number per step on a stack, 8·steps bytes. The fixed part is h = 1 / steps
// and -k (read by every reversed step): 16 bytes. steps is an integer parameter.
const ODE = `
export function ode(y0: number, k: number, steps: number): number {
  let y = y0;
  const h = 1 / steps;
  for (let s = 0; s < steps; s++) y = y + h * (-k * y);
  return y;
}
`;

// Newton's method: the trip count is known only at run time. Each trip overwrites y and
// the adjoint of a / y needs the old y: 8 bytes per trip; the fixed part is the trip counter.
const NEWTON = `
export function newton(a: number): number {
  let y = a;
  let it = 0;
  while (Math.abs(y * y - a) > 1e-12 && it < 60) {
    y = 0.5 * (y + a / y);
    it++;
  }
  return y;
}
`;

// both kinds at once, measured: linearOut (24·N), c (8), and y before each step (8·steps)
const MODEL = `${IMPORT}
export function model<N extends number>(x: Tensor<[N, 4]>, w: Tensor<[3, 4]>, b: Tensor<[3]>, steps: number): number {
  const c = sum(relu(linear(x, w, b)));
  let y = 0.5;
  for (let s = 0; s < steps; s++) y = Math.sin(y * c);
  return y;
}
`;

async function statsOf(source: string, dtype: "float64" | "float32" = "float64"): Promise<TapeStats> {
  const r = await compileOrThrow(source, { dtype });
  const e = r.entries[0]!;
  return tapeStats(e.grad, e.entry.params.length, dtype === "float32" ? 4 : 8);
}

interface Stack {
  data: Float64Array;
  top: number;
}
const isStack = (v: unknown): v is Stack => typeof v === "object" && v !== null && "data" in v && "top" in v;

/**
 * The bytes a tape object holds besides the value, the parameters and the sizes: the
 * Float64Arrays that are not arguments, what each stack holds (top numbers), and 8 per other number.
 */
function heldBytes(tape: Record<string, unknown>, args: readonly unknown[], names: readonly string[]): { fixed: number; stacks: number } {
  let fixed = 0;
  let stacks = 0;
  for (const [key, v] of Object.entries(tape)) {
    if (key === "value" || names.includes(key)) continue;
    if (v instanceof Float64Array || v instanceof Float32Array) {
      if (!args.includes(v)) fixed += v.byteLength;
    } else if (isStack(v)) stacks += v.top * 8;
    else if (typeof v === "number") fixed += 8;
    else throw new Error(`unexpected tape field ${key}`);
  }
  return { fixed, stacks };
}

describe("adgen --emit stats", () => {
  it("reports a symbolic batch's tape as a formula of N", async () => {
    const s = await statsOf(LAYER);
    expect(showBytes(s.fixedBytes)).toBe("24·N");
    expect(s.values).toBe(1);
    expect(s.stacks).toEqual([]);
    expect(formatTapeStats(s)).toBe("layer: the tape keeps 1 intermediate value, 24·N bytes (besides the parameters)\n");
    // float32 code keeps 4-byte elements
    expect(showBytes((await statsOf(LAYER, "float32")).fixedBytes)).toBe("12·N");
  });

  it("counts a stack pushed by a for loop over an integer parameter as bytes times the steps", async () => {
    const s = await statsOf(ODE);
    expect(showBytes(s.fixedBytes)).toBe("16");
    expect(s.stacks.map((st) => [st.name, st.pushes.map((p) => (p.kind === "total" ? showBytes(p.bytes) : p.kind))])).toEqual([["yTape", ["8·steps"]]]);
    expect(showBytes(s.totalBytes!)).toBe("8·steps + 16");
    expect(formatTapeStats(s)).toBe(
      "ode: the tape keeps 2 intermediate values, 16 bytes (besides the parameters), and 1 stack:\n  yTape: 8·steps bytes\n  in all 8·steps + 16 bytes\n",
    );
  });

  it("reports a while loop's stack per trip, naming the loop as written", async () => {
    const s = await statsOf(NEWTON);
    expect(showBytes(s.fixedBytes)).toBe("8");
    expect(s.totalBytes).toBeUndefined();
    const push = s.stacks[0]!.pushes[0]!;
    expect(push).toMatchObject({ kind: "perTrip", bytes: 8, loop: { kind: "while", line: 5 } });
    expect(formatTapeStats(s, NEWTON)).toBe(
      "newton: the tape keeps 1 intermediate value, 8 bytes (besides the parameters), and 1 stack:\n  yTape: 8 bytes per trip of the while loop at line 5\n",
    );
    // a for loop that a break leaves is a while loop in the IR: the report still says for
    const brk = `${IMPORT}
export function brk<N extends number>(x: Tensor<[N]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    s = Math.sin(s + x[i]);
    if (s > 0.9) break;
  }
  return s;
}
`;
    expect(formatTapeStats(await statsOf(brk), brk)).toContain("sTape: 8 bytes per trip of the for loop at line 5");
  });

  it("multiplies nested counted loops and notes a trip count that could be negative", async () => {
    const lse = `${IMPORT}
export function lse<N extends number>(x: Tensor<[N]>): number {
  let m = x[0];
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}
`;
    // max's adjoint needs the old m at each of the N - 1 trips; the reversed exp loop reads
    // each Math.exp from a residual tape (N numbers) rather than calling it again
    const s = await statsOf(lse);
    expect(s.stacks.map((st) => st.name)).toEqual(["expTape", "mTape"]);
    expect(s.stacks[0]!.pushes).toEqual([{ kind: "total", bytes: { terms: [{ coef: 8, syms: ["N"] }] } }]);
    expect(s.stacks[1]!.pushes).toEqual([{ kind: "total", bytes: { terms: [{ coef: 8, syms: ["N"] }, { coef: -8, syms: [] }] } }]);
    expect(formatTapeStats(s)).toContain("mTape: 8·N - 8 bytes");
    expect(formatTapeStats(s)).toContain("expTape: 8·N bytes");
    expect(formatTapeStats(s)).toContain("(where the trip count N - 1 is at least 0");
    // y[i] overwritten at every one of steps · N writes: one number each, 8·N·steps bytes
    const inplace = `import { type Tensor, zeros } from "adgen";
export function inplace<N extends number>(x: Tensor<[N]>, steps: number): number {
  const y = zeros([x.length]);
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < x.length; i++) y[i] = Math.sin(y[i] + x[i]);
  }
  let t = 0;
  for (let i = 0; i < x.length; i++) t += y[i];
  return t;
}
`;
    expect(formatTapeStats(await statsOf(inplace))).toContain("  yTape: 8·N·steps bytes\n");
  });

  it("matches the bytes the generated tape holds, at two sizes", async () => {
    const r = await compileOrThrow(MODEL);
    const e = r.entries[0]!;
    const s = tapeStats(e.grad, e.entry.params.length);
    expect(showBytes(s.totalBytes!)).toBe("24·N + 8·steps + 8");
    const mod = await importCode<{ modelForward: (...a: unknown[]) => Record<string, unknown> }>(r.code!);
    const random = rng(3);
    const vec = (n: number) => Float64Array.from({ length: n }, () => random() * 2 - 1);
    for (const [N, steps] of [[2, 3], [7, 40]] as const) {
      const args = [vec(N * 4), vec(12), vec(3), steps];
      const held = heldBytes(mod.modelForward(...args), args, ["x", "w", "b", "steps", "N"]);
      const env = (sym: string) => ({ N, steps })[sym];
      expect(held.fixed).toBe(evalDim(s.fixedBytes, env));
      expect(held.stacks).toBe(evalDim(s.stacks[0]!.pushes[0]!.bytes, env));
      expect(held.fixed + held.stacks).toBe(evalDim(s.totalBytes!, env));
    }
  });

  it("matches a while loop's per-trip bytes times the trips it counted", async () => {
    const r = await compileOrThrow(NEWTON);
    const e = r.entries[0]!;
    const s = tapeStats(e.grad, e.entry.params.length);
    const mod = await importCode<{ newtonForward: (a: number) => Record<string, unknown> }>(r.code!);
    const push = s.stacks[0]!.pushes[0]!;
    for (const a of [2, 50]) {
      const tape = mod.newtonForward(a);
      const held = heldBytes(tape, [a], ["a"]);
      expect(tape.trips).toBeGreaterThan(2);
      expect(held.fixed).toBe(s.fixedBytes);
      expect(held.stacks).toBe((push.bytes as number) * (tape.trips as number));
    }
  });

  it("prints the report from the command line", () => {
    const dir = mkdtempSync(join(tmpdir(), "adgen-stats-"));
    try {
      writeFileSync(join(dir, "ode.ts"), ODE);
      const r = spawnSync(process.execPath, [CLI, "--emit", "stats", "ode.ts"], { cwd: dir, encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(
        "ode: the tape keeps 2 intermediate values, 16 bytes (besides the parameters), and 1 stack:\n  yTape: 8·steps bytes\n  in all 8·steps + 16 bytes\n",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
