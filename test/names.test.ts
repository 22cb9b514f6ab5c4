// Any valid identifier compiles: names the generated module also uses (value, grads, dx,
// tape, ws, temporaries), Object.prototype's names, non-ASCII names; comments and file
// names cannot inject code; entry names whose exports would collide get ADG1020; and the
// output does not depend on where the compiler runs.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/pipeline.js";
import { compileOrThrow, directionalCheck, importCode, rng } from "./helpers.js";
import { typecheck } from "./fuzz/harness.js";

const AWKWARD = `
import { type Tensor, sum, mul, relu } from "adgen";

function dx(t: number): number {
  return t * t;
}

/** An entry whose parameters and locals use the generated module's own names. */
export function value(grads: number, constructor: Tensor<[3]>, __proto__: number, toString: Tensor<[3]>, tape: number, ws: number): number {
  const dgrads = grads * 2;
  const t = dx(dgrads) + __proto__ * tape;
  let k = 0;
  for (let i = 0; i < 3; i++) {
    k += constructor[i] * toString[i] * ws;
  }
  const out = sum(relu(mul(constructor, t))) + k;
  const cotangent = out * out;
  return cotangent + Math.sin(__proto__);
}

/** Parameters named after globals the generated code uses (size checks throw RangeError). */
export function globals(RangeError: Tensor<[2]>, Float64Array: Tensor<[2]>, Math: number, Object: number, Number: number, Int32Array: number): number {
  return sum(mul(RangeError, Float64Array)) * Math * Object + Number * Int32Array;
}

export function café(π: number, Δx: number, 变量: number): number {
  const ñ = π * Δx;
  return Math.exp(ñ) + 变量 * ñ;
}

export function constructorGradX(valueOf: number, hasOwnProperty: number): number {
  return valueOf * hasOwnProperty + Math.log(valueOf);
}
`;

describe("awkward names", () => {
  it("compile, type-check, and give gradients that agree with finite differences", async () => {
    const r = await compileOrThrow(AWKWARD, { fileName: "awkward.ts" });
    const m = await importCode<Record<string, any>>(r.code!);
    const random = rng(3);
    const vec = () => Float64Array.from({ length: 3 }, () => random() + 0.2);
    const args = [0.7, vec(), 0.4, vec(), 1.3, 0.9];
    const res = m.valueGrad(...args);
    expect(res.value).toEqual(m.value(...args));
    expect(Object.keys(res.grads)).toEqual(["grads", "constructor", "__proto__", "toString", "tape", "ws"]);
    expect(Object.getPrototypeOf(res.grads)).toBe(Object.prototype);
    expect(typeof res.grads["__proto__"]).toBe("number");
    const err = directionalCheck((a) => m.value(...a), args, ["grads", "constructor", "__proto__", "toString", "tape", "ws"].map((k) => res.grads[k]));
    expect(err).toBeLessThan(1e-6);
    // the allocation-free form writes __proto__ as a property, not the prototype
    const into: { [k: string]: unknown } = JSON.parse('{"grads":0,"__proto__":0,"tape":0,"ws":0}');
    into["constructor"] = new Float64Array(3);
    into["toString"] = new Float64Array(3);
    m.valueGradInto(...args, into);
    expect(into["__proto__"]).toEqual(res.grads["__proto__"]);
    expect(m["caféGrad"](0.3, 0.5, 2).grads).toEqual({ "π": expect.any(Number), "Δx": expect.any(Number), "变量": 0.15 });
    expect(m.constructorGradXGrad(2, 3).grads.valueOf).toBeCloseTo(3.5, 12);
    // parameters named after the globals the module uses (RangeError, Float64Array, Math...)
    const g = m.globalsGrad(Float64Array.from([1, 2]), Float64Array.from([3, 4]), 2, 5, 7, 11);
    expect(g.value).toBe(11 * 2 * 5 + 7 * 11);
    expect(Array.from(g.grads.RangeError)).toEqual([30, 40]);
    expect(() => m.globals(new Float64Array(3), new Float64Array(2), 1, 1, 1, 1)).toThrow(RangeError);
    expect(typecheck([r.code!])).toEqual([]);
  });

  it("entries whose generated names collide get ADG1020", async () => {
    const r = await compile("export function f(x: number): number { return x; }\nexport function fGrad(x: number): number { return x; }\n");
    expect(r.diagnostics.map((d) => d.code)).toEqual(["ADG1020"]);
    expect(r.diagnostics[0]!.line).toBe(2);
    expect(r.diagnostics[0]!.message).toContain("'fGrad'");
  });
});

describe("no code injection", () => {
  it("line terminators and comment ends in the source stay inside comments", async () => {
    const source =
      "export function f(x: number): number {\n" +
      "  const y = x * 2; // */ globalThis.injected = 1; /*\n" +
      "  return y; /* \u2028globalThis.injected = 2;\u2029 globalThis.injected = 3; */\n" +
      "}\n";
    const r = await compileOrThrow(source, { fileName: "evil */ globalThis.injected = 4; /*.ts" });
    const m = await importCode<Record<string, any>>(r.code!);
    expect((globalThis as Record<string, unknown>).injected).toBeUndefined();
    expect(m.fGrad(3).grads.x).toBe(2);
    expect(r.code).not.toMatch(/[\u2028\u2029]/);
  });
});

describe("determinism", () => {
  it("the same input gives byte-identical output from different working directories", () => {
    const cli = new URL("../dist/compiler/cli.js", import.meta.url).pathname;
    const model = readFileSync(new URL("./fixtures/lenet5_digit7/model.ts", import.meta.url), "utf8");
    const root = mkdtempSync(join(tmpdir(), "adgen-det-"));
    mkdirSync(join(root, "a/b"), { recursive: true });
    writeFileSync(join(root, "a/b/model.ts"), model);
    const one = spawnSync(process.execPath, [cli, "b/model.ts", "-o", join(root, "one.ts")], { cwd: join(root, "a"), encoding: "utf8" });
    const two = spawnSync(process.execPath, [cli, "a/b/model.ts", "-o", join(root, "two.ts")], { cwd: root, encoding: "utf8" });
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect(readFileSync(join(root, "one.ts"))).toEqual(readFileSync(join(root, "two.ts")));
  });
});
