// `adgen --check` must test something: inputs without a gradient (data, targets, labels,
// indices) take random values of their kind, a wrong gradient is caught where data
// multiplies the weights, and a parameter whose gradient and finite differences are all
// exactly 0 is reported as not exercised, never as agreement. The same holds for each
// entry's JVP and HVP, checked at the same points.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CompileResult } from "../compiler/pipeline.js";
import { checkGradients, formatCheckReport, loadGenerated, sizesArgument } from "../compiler/tools/check.js";
import { inputPlans } from "../compiler/tools/inputRanges.js";
import { compileOrThrow } from "./helpers.js";

const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
});

type Fn = (...a: unknown[]) => unknown;
type GradResult = { value: number; grads: Record<string, Float64Array | number> };
type JvpResult = { value: number | Float64Array; tangent: number | Float64Array };
type HvpResult = GradResult & { hvp: Record<string, Float64Array | number> };

/** Every gradient (or HVP) scaled by `by`. */
const scaled = (grads: Record<string, Float64Array | number>, by: number) =>
  Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, typeof v === "number" ? v * by : v.map((e) => e * by)]));

const MLP = `
import { type Tensor } from "adgen";
/** @wrt w */
export function loss(x: Tensor<[4]>, w: Tensor<[3, 4]>, y: Tensor<[3]>): number {
  let s = 0;
  for (let i = 0; i < 3; i++) {
    let z = 0;
    for (let j = 0; j < 4; j++) z += w[i][j] * x[j];
    const d = Math.tanh(z) - y[i];
    s += d * d;
  }
  return s;
}
`;

/** The plan inputPlans makes for each parameter of the first entry. */
function plansOf(result: CompileResult) {
  const { entry, primal, grad } = result.entries[0]!;
  const plans = inputPlans(primal, new Set(grad.wrt), entry.params.map((p) => p.name), () => 3);
  return Object.fromEntries(entry.params.map((p, k) => [p.name, plans[k]]));
}

/** The generated module with one function replaced by a wrapper around it. */
async function patched(result: CompileResult, name: string, wrap: (original: Fn) => Fn): Promise<Record<string, unknown>> {
  const mod = await loadGenerated(result.code!);
  return { ...mod, [name]: wrap(mod[name] as Fn) };
}

describe("adgen --check", () => {
  it("exercises a weight multiplied by data, and catches a gradient that is 0.1% off", async () => {
    const result = await compileOrThrow(MLP);
    const report = await checkGradients(result);
    const w = report.params.find((p) => p.param === "w")!;
    expect(report.ok).toBe(true);
    expect(w.status).toBe("ok");
    expect(w.checks).toBe(24);
    expect(w.notExercised).toBe(0);
    expect(report.inputs.map((i) => `${i.param} ${i.sampled}`)).toEqual(["x data in [-1, 1]", "y data in [-1, 1]"]);
    expect(formatCheckReport(report, 1e-5)).toContain("gradients agree");

    // with data at 0 (as --check had it) this gradient was 0 and the sabotage invisible
    const module = await patched(result, "lossGrad", (grad) => (...a) => {
      const r = grad(...a) as GradResult;
      return { ...r, grads: { w: (r.grads.w as Float64Array).map((v) => v * 1.001) } };
    });
    const broken = await checkGradients(result, { module });
    expect(broken.ok).toBe(false);
    expect(broken.params[0]!.status).toBe("mismatch");
    expect(broken.params[0]!.worst).toBeGreaterThan(1e-4);
    expect(formatCheckReport(broken, 1e-5)).toMatch(/GRADIENT MISMATCH \(loss\.w\)\n$/);
    // the JVP and HVP disagree with that gradient, which is not counted against them
    for (const m of broken.modes) expect(m).toMatchObject({ status: "ok", gradientTrusted: false });
    expect(broken.modes.every((m) => m.gradMismatches > 0)).toBe(true);
    expect(formatCheckReport(broken, 1e-5)).toContain("(the gradient is wrong: not counted)");
  });

  describe("JVPs and HVPs", () => {
    it("checks fJvp and fHvp at the same points, one line each", async () => {
      const result = await compileOrThrow(MLP);
      const report = await checkGradients(result);
      expect(report.ok).toBe(true);
      expect(report.modes.map((m) => `${m.entry}.${m.mode} ${m.status}`)).toEqual(["loss.jvp ok", "loss.hvp ok"]);
      for (const m of report.modes) {
        // one direction for w per point (the only differentiated parameter), at 2 points
        expect(m.checks).toBe(2);
        expect(m).toMatchObject({ notExercised: 0, kinks: 0, valueMismatches: 0, gradMismatches: 0 });
        expect(m.worst).toBeLessThan(1e-5);
      }
      const text = formatCheckReport(report, 1e-5);
      expect(text).toMatch(/\n {2}w +\[3, 4\] .*ok\n {2}jvp +value \[\] +directions \(2\) +worst relative error \d\.\d+e-\d+ {2}ok\n {2}hvp +gradient +directions \(2\) +worst relative error \d\.\d+e-\d+ {2}ok\n/);
      expect(text).toMatch(/: gradients agree, and so do JVPs and HVPs\n$/);
    });

    it("catches a JVP that is 0.1% off by finite differences of the function, and a wrong value", async () => {
      const result = await compileOrThrow(MLP);
      const module = await patched(result, "lossJvp", (jvp) => (...a) => {
        const r = jvp(...a) as JvpResult;
        return { ...r, tangent: (r.tangent as number) * 1.001 };
      });
      const report = await checkGradients(result, { module });
      expect(report.ok).toBe(false);
      expect(report.params[0]!.status).toBe("ok");
      const jvp = report.modes.find((m) => m.mode === "jvp")!;
      expect(jvp.status).toBe("mismatch");
      // `worst` is the finite-difference comparison's (the gradient agreeing catches it too)
      expect(jvp.worst).toBeGreaterThan(1e-4);
      expect(report.modes.find((m) => m.mode === "hvp")!.status).toBe("ok");
      const text = formatCheckReport(report, 1e-5);
      expect(text).toMatch(/\n {2}jvp +value \[\] .* MISMATCH, tangent not <gradient, direction> at 2\n/);
      expect(text).toMatch(/GRADIENT MISMATCH \(loss\.jvp\)\n$/);

      // a right tangent with a value that is not f's
      const offValue = await patched(result, "lossJvp", (jvp) => (...a) => {
        const r = jvp(...a) as JvpResult;
        return { ...r, value: (r.value as number) * (1 + 1e-9) };
      });
      const wrongValue = (await checkGradients(result, { module: offValue })).modes.find((m) => m.mode === "jvp")!;
      expect(wrongValue).toMatchObject({ status: "mismatch", valueMismatches: 2 });
      expect(wrongValue.worst).toBeLessThan(1e-5);
    });

    it("catches an HVP that is 0.1% off by finite differences of the gradient, and grads that are not fGrad's", async () => {
      const result = await compileOrThrow(MLP);
      const module = await patched(result, "lossHvp", (hvp) => (...a) => {
        const r = hvp(...a) as HvpResult;
        return { ...r, hvp: scaled(r.hvp, 1.001) };
      });
      const report = await checkGradients(result, { module });
      expect(report.ok).toBe(false);
      expect(report.params[0]!.status).toBe("ok");
      expect(report.modes.find((m) => m.mode === "jvp")!.status).toBe("ok");
      const hvp = report.modes.find((m) => m.mode === "hvp")!;
      expect(hvp).toMatchObject({ status: "mismatch", gradMismatches: 0 });
      expect(hvp.worst).toBeGreaterThan(1e-4);
      expect(formatCheckReport(report, 1e-5)).toMatch(/GRADIENT MISMATCH \(loss\.hvp\)\n$/);

      // the gradient fHvp returns differs from fGrad's by 1e-9, a mistake finite differences do not see
      const offGrads = await patched(result, "lossHvp", (hvp) => (...a) => {
        const r = hvp(...a) as HvpResult;
        return { ...r, grads: scaled(r.grads, 1 + 1e-9) };
      });
      const wrongGrads = (await checkGradients(result, { module: offGrads })).modes.find((m) => m.mode === "hvp")!;
      expect(wrongGrads).toMatchObject({ status: "mismatch", gradMismatches: 2, gradientTrusted: true });
      expect(wrongGrads.worst).toBeLessThan(1e-5);
    });

    it("compares a tensor-valued entry's whole tangent, at sizes drawn per point", async () => {
      const result = await compileOrThrow(`
import { type Tensor, zeros } from "adgen";
/** @wrt w */
export function rows<N extends number>(x: Tensor<[N, 3]>, w: Tensor<[3]>, c: number): Tensor<[N, 2]> {
  const out = zeros([x.length, 2]);
  for (let i = 0; i < x.length; i++) {
    let z = 0;
    for (let j = 0; j < 3; j++) z += x[i][j] * w[j];
    out[i][0] = Math.tanh(z);
    out[i][1] = z * z * c;
  }
  return out;
}
`);
      const report = await checkGradients(result, { points: 3 });
      expect(report.ok).toBe(true);
      // no HVP: the entry returns a tensor
      expect(report.modes).toHaveLength(1);
      expect(report.modes[0]).toMatchObject({ entry: "rows", mode: "jvp", dims: ["N", "2"], status: "ok", checks: 3 });
      expect(formatCheckReport(report, 1e-5)).toMatch(/\n {2}jvp +value \[N, 2\] +directions \(3\) .* ok\n/);

      // one element of the tangent off: the second output of the last row
      const module = await patched(result, "rowsJvp", (jvp) => (...a) => {
        const r = jvp(...a) as JvpResult;
        const t = Float64Array.from(r.tangent as Float64Array);
        t[t.length - 1]! *= 1.001;
        return { ...r, tangent: t };
      });
      const broken = await checkGradients(result, { module, points: 3 });
      expect(broken.ok).toBe(false);
      expect(broken.params.map((p) => p.status)).toEqual(["ok"]);
      expect(broken.modes[0]!.status).toBe("mismatch");
      expect(broken.modes[0]!.worst).toBeGreaterThan(1e-4);
    });

    it("reports a JVP and an HVP that are exactly 0 at every check as not exercised, and fails", async () => {
      const result = await compileOrThrow(`
export function dead(a: number, b: number): number {
  let c = 0;
  if (a > 100) c = a * b;
  return c + 1;
}
`);
      const report = await checkGradients(result);
      expect(report.ok).toBe(false);
      expect(report.modes.map((m) => `${m.mode} ${m.status}`)).toEqual(["jvp not exercised", "hvp not exercised"]);
      for (const m of report.modes) expect(m.notExercised).toBe(m.checks);
      const text = formatCheckReport(report, 1e-5);
      expect(text).toMatch(/\n {2}jvp .* NOT EXERCISED\n {2}hvp .* NOT EXERCISED\n/);
      expect(text).toContain("NOT EXERCISED (dead.jvp: the JVP and every finite difference were exactly 0 at every check");
      expect(text).toContain("NOT EXERCISED (dead.hvp: the HVP and every finite difference of the gradient were exactly 0 at every check");
      expect(text).not.toContain("agree");
    });
  });

  it("draws embedding ids as integers that index the table, and counts rows never looked up", async () => {
    const result = await compileOrThrow(`
import { type Tensor } from "adgen";
/** @wrt E */
export function emb(E: Tensor<[5, 3]>, ids: Tensor<[4]>, v: Tensor<[3]>): number {
  let s = 0;
  for (let t = 0; t < 4; t++) for (let j = 0; j < 3; j++) s += Math.tanh(E[ids[t]][j] * v[j]);
  return s;
}
`);
    const seen: number[] = [];
    const module = await patched(result, "emb", (f) => (...a) => {
      seen.push(...(a[1] as Float64Array));
      return f(...a);
    });
    const report = await checkGradients(result, { module });
    expect(report.skipped).toEqual([]);
    expect(report.ok).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    for (const id of seen) expect(Number.isInteger(id) && id >= 0 && id < 5, `id ${id}`).toBe(true);
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect(report.inputs.find((i) => i.param === "ids")!.sampled).toBe("integers in [0, 5)");
    // 4 ids cannot cover 5 rows: some rows of E get no gradient at each point
    const E = report.params[0]!;
    expect(E.status).toBe("ok");
    expect(E.notExercised).toBeGreaterThanOrEqual(3);
    expect(E.notExercised).toBeLessThan(E.checks);
    expect(formatCheckReport(report, 1e-5)).toMatch(/ok, \d+ not exercised/);
  });

  it("draws a label and a batch of labels as class indices of crossEntropy", async () => {
    const result = await compileOrThrow(`
import { type Tensor, crossEntropy, linear } from "adgen";
/** @wrt w */
export function ce(x: Tensor<[2, 4]>, w: Tensor<[3, 4]>, labels: Tensor<[2]>, label: number): number {
  return crossEntropy(linear(x, w), labels) + crossEntropy(linear(x[1], w), label);
}
`);
    const seen: number[] = [];
    const module = await patched(result, "ce", (f) => (...a) => {
      seen.push(...(a[2] as Float64Array), a[3] as number);
      return f(...a);
    });
    const report = await checkGradients(result, { module, points: 4 });
    expect(report.ok).toBe(true);
    for (const l of seen) expect(Number.isInteger(l) && l >= 0 && l < 3, `label ${l}`).toBe(true);
    expect(new Set(seen).size).toBeGreaterThan(1);
    const sampled = Object.fromEntries(report.inputs.map((i) => [i.param, i.sampled]));
    expect(sampled).toEqual({ x: "data in [-1, 1]", labels: "integers in [0, 3)", label: "integers in [0, 3)" });
  });

  it("reports a parameter with an exactly zero gradient as not exercised, and fails", async () => {
    const result = await compileOrThrow(`
export function zero(x: number, a: number): number {
  let c = 0;
  if (x > 100) c = a;
  return x * x + c;
}
`);
    const report = await checkGradients(result);
    const a = report.params.find((p) => p.param === "a")!;
    expect(a.status).toBe("not exercised");
    expect(a.ok).toBe(false);
    expect(a.notExercised).toBe(a.checks);
    expect(report.params.find((p) => p.param === "x")!.status).toBe("ok");
    expect(report.ok).toBe(false);
    const text = formatCheckReport(report, 1e-5);
    expect(text).toMatch(/ a +\[\] .* NOT EXERCISED\n/);
    expect(text).toContain("NOT EXERCISED (zero.a:");
    expect(text).not.toContain("gradients agree");

    // the command line exits with status 1
    const dir = mkdtempSync(join(tmpdir(), "adgen-check-"));
    try {
      writeFileSync(join(dir, "m.ts"), `export function zero(x: number, a: number): number {\n  let c = 0;\n  if (x > 100) c = a;\n  return x * x + c;\n}\n`);
      const r = spawnSync(process.execPath, [CLI, "--check", "m.ts"], { encoding: "utf8", cwd: dir });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toContain("NOT EXERCISED");
      expect(r.stdout).not.toContain("gradients agree");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("follows index arithmetic: offsets, floor, a remainder written with trunc", async () => {
    const offset = plansOf(await compileOrThrow(`
import { type Tensor } from "adgen";
/** @wrt E */
export function f(E: Tensor<[6]>, k: number, ids: Tensor<[2]>): number {
  let s = 0;
  for (let t = 0; t < 3; t++) s += E[t + k];
  return s + E[Math.floor(ids[0] / 2) + 1] * E[ids[1] - 5 * Math.trunc(ids[1] / 5)];
}
`));
    // t + k < 6 for t up to 2: k in [0, 4)
    expect(offset.k).toEqual({ kind: "integer", values: [0, 1, 2, 3], exact: true, bound: 1 });
    // floor(ids/2) + 1 < 6 and ids - 5 trunc(ids/5) in [0, 6): ids in [-1, 10) and not a
    // negative non-multiple of 5 (the remainder keeps the sign)
    expect(offset.ids).toMatchObject({ kind: "integer", values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], exact: true });
    expect(offset.E).toBeUndefined();
  });

  it("samples an index it cannot analyse as small integers and retries out-of-range points", async () => {
    const result = await compileOrThrow(`
import { type Tensor } from "adgen";
/** @wrt E */
export function pair(E: Tensor<[4]>, ids: Tensor<[2]>): number {
  return E[ids[0] + ids[1]] * E[ids[0] + ids[1]];
}
`);
    const plan = plansOf(result).ids!;
    expect(plan).toMatchObject({ kind: "integer", exact: false, bound: 4 });
    const report = await checkGradients(result, { points: 6 });
    expect(report.skipped).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.inputs[0]!.sampled).toMatch(/^integers drawn in \[0, \d\] \(some uses not analysed\)$/);
  });

  it("switches data and tensors to positive values when a value is not finite", async () => {
    const result = await compileOrThrow(`
import { type Tensor } from "adgen";
/** @wrt w */
export function logs(w: number, y: Tensor<[6]>): number {
  let s = 0;
  for (let i = 0; i < 6; i++) s += w * Math.log(y[i]);
  return s;
}
export function logsAll(w: number, y: Tensor<[6]>): number {
  let s = 0;
  for (let i = 0; i < 6; i++) s += w * Math.log(y[i]);
  return s;
}
`);
    const report = await checkGradients(result);
    expect(report.skipped).toEqual([]);
    expect(report.inputs).toEqual([{ entry: "logs", param: "y", sampled: "data in [0.5, 1.5]" }]);
    expect(report.params.map((p) => `${p.entry}.${p.param} ${p.status}`)).toEqual(["logs.w ok", "logsAll.w ok", "logsAll.y ok"]);
    // logs is linear in w, its one differentiated parameter: its Hessian is 0 everywhere, so
    // its HVP cannot be exercised; with its gradient and JVP checked, that does not fail the run
    expect(report.modes.map((m) => `${m.entry}.${m.mode} ${m.status}`)).toEqual(["logs.jvp ok", "logs.hvp not exercised", "logsAll.jvp ok", "logsAll.hvp ok"]);
    expect(report.ok).toBe(true);
    expect(formatCheckReport(report, 1e-5)).toMatch(/\n {2}hvp .* 0 at every check, as is every difference of the gradient .*\n/);
    expect(formatCheckReport(report, 1e-5)).toMatch(/gradients agree, and so do JVPs and HVPs \(logs\.hvp: 0 at every check/);
  });

  it("skips an entry whose index no integer keeps in range, and does not call that agreement", async () => {
    const result = await compileOrThrow(`
import { type Tensor } from "adgen";
/** @wrt E */
export function half(E: Tensor<[4]>, k: number): number {
  return E[k + 0.5];
}
`);
    const report = await checkGradients(result);
    expect(report.skipped).toEqual(["half: no integer value of 'k' keeps every index it reaches in range; entry skipped"]);
    expect(report.params[0]!.status).toBe("not checked");
    expect(report.ok).toBe(false);
    expect(formatCheckReport(report, 1e-5)).toContain("NOT CHECKED (half.E: every point was skipped)");
  });

  describe("sizes known only at run time", () => {
    /** The module with `name`'s gradients scaled by 1.001 when `when` holds for its arguments. */
    const sabotaged = (result: CompileResult, name: string, when: (a: unknown[]) => boolean) =>
      patched(result, name, (grad) => (...a) => {
        const r = grad(...a) as GradResult;
        if (!when(a)) return r;
        const grads = Object.fromEntries(Object.entries(r.grads).map(([k, v]) => [k, typeof v === "number" ? v * 1.001 : v.map((e) => e * 1.001)]));
        return { ...r, grads };
      });

    it("draws a size type parameter per point, and catches a gradient wrong at one size", async () => {
      const result = await compileOrThrow(`
import { type Tensor } from "adgen";
export function lse<N extends number>(x: Tensor<[N]>): number {
  let m = x[0];
  for (let i = 1; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}
`);
      const lengths: number[] = [];
      const module = await patched(result, "lse", (f) => (...a) => {
        lengths.push((a[0] as Float64Array).length);
        return f(...a);
      });
      const report = await checkGradients(result, { module, points: 3 });
      expect(report.ok).toBe(true);
      expect(report.params[0]).toMatchObject({ param: "x", dims: ["N"], status: "ok" });
      const sizes = report.sizes[0]!;
      expect(sizes).toMatchObject({ entry: "lse", passed: false });
      expect(sizes.points).toHaveLength(3);
      // consecutive points differ, every size is small, and the arrays have those sizes
      for (let k = 1; k < 3; k++) expect(sizes.points[k]!.N).not.toBe(sizes.points[k - 1]!.N);
      for (const p of sizes.points) expect(p.N! >= 1 && p.N! <= 4).toBe(true);
      expect(new Set(lengths)).toEqual(new Set(sizes.points.map((p) => p.N)));
      const text = formatCheckReport(report, 1e-5);
      expect(text).toContain(`  sizes: ${sizes.points.map((p) => `N = ${p.N}`).join("; ")}\n`);
      expect(text).toMatch(/ x +\[N\] /);

      // a gradient that is right at the size --check used to try (3) and wrong at the others
      const broken = await checkGradients(result, { module: await sabotaged(result, "lseGrad", (a) => (a[0] as Float64Array).length !== 3) });
      expect(broken.ok).toBe(false);
      expect(broken.params[0]!.status).toBe("mismatch");
    });

    it("passes the trailing sizes object when one array holds two symbolic dimensions", async () => {
      const result = await compileOrThrow(`
import { type Tensor } from "adgen";
export function f<N extends number, M extends number>(x: Tensor<[N, M]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) for (let j = 0; j < x[0].length; j++) s += Math.sin(x[i][j]) * (i + 2 * j + 1);
  return s;
}
`);
      // the generated functions require it (they throw without it)
      const mod = await loadGenerated(result.code!);
      expect(() => (mod.fGrad as Fn)(new Float64Array(6))).toThrow();
      const seen: [number, number, number][] = [];
      const module = { ...mod, f: (...a: unknown[]) => {
        const { N, M } = a[1] as { N: number; M: number };
        seen.push([N, M, (a[0] as Float64Array).length]);
        return (mod.f as Fn)(...a);
      } };
      const report = await checkGradients(result, { module, points: 3 });
      expect(report.ok).toBe(true);
      expect(report.params[0]).toMatchObject({ dims: ["N", "M"], status: "ok" });
      for (const [N, M, len] of seen) expect(len).toBe(N * M);
      const sizes = report.sizes[0]!;
      expect(sizes.passed).toBe(true);
      expect(Object.keys(sizes.points[0]!).sort()).toEqual(["M", "N"]);
      expect(sizes.points[1]).not.toEqual(sizes.points[0]);
      expect(formatCheckReport(report, 1e-5)).toMatch(/\n {2}sizes: N = \d, M = \d; N = \d, M = \d; N = \d, M = \d \(passed as the sizes argument\)\n/);

      // the symbols needing the object are those no array determines: M from y, then N from x
      expect(sizesArgument(result.entries[0]!.primal)).toEqual(["N", "M"]);
      const mixed = await compileOrThrow(`
import { type Tensor } from "adgen";
export function g<N extends number, M extends number>(x: Tensor<[N, M]>, y: Tensor<[M]>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) for (let j = 0; j < y.length; j++) s += Math.sin(x[i][j] * y[j]);
  return s;
}
`);
      expect(sizesArgument(mixed.entries[0]!.primal)).toEqual([]);
      expect(mixed.code).toContain("export function g(x: Float64Array, y: Float64Array): number {");
      const mixedReport = await checkGradients(mixed);
      expect(mixedReport.ok).toBe(true);
      expect(mixedReport.sizes[0]!.passed).toBe(false);

      const broken = await checkGradients(result, { module: await sabotaged(result, "fGrad", () => true) });
      expect(broken.ok).toBe(false);
      expect(broken.params[0]!.status).toBe("mismatch");
    });

    it("gives an integer loop bound small positive integers and checks the rest", async () => {
      const result = await compileOrThrow(`
export function ode(y0: number, k: number, steps: number): number {
  let y = y0;
  const h = 1 / steps;
  for (let s = 0; s < steps; s++) y = y + h * (-k * y * y);
  return y;
}
`);
      const steps: number[] = [];
      const module = await patched(result, "odeGrad", (g) => (...a) => {
        steps.push(a[2] as number);
        return g(...a);
      });
      const report = await checkGradients(result, { module, points: 4 });
      expect(report.ok).toBe(true);
      expect(report.params.map((p) => `${p.param} ${p.status}`)).toEqual(["y0 ok", "k ok"]);
      expect(report.sizes).toEqual([]);
      expect(steps.length).toBe(4);
      for (const n of steps) expect(Number.isInteger(n) && n >= 1 && n <= 4, `steps ${n}`).toBe(true);
      expect(report.inputs[0]).toMatchObject({ param: "steps" });
      expect(report.inputs[0]!.sampled).toMatch(/^integers drawn in \[[1-4], [1-4]\]/);

      const broken = await checkGradients(result, { module: await sabotaged(result, "odeGrad", () => true), points: 4 });
      expect(broken.ok).toBe(false);
      expect(broken.params.map((p) => p.status)).toEqual(["mismatch", "mismatch"]);
    });
  });
});
