// Custom derivative rules (SPEC 6): `/** @vjp r */` and `/** @jvp r */` on a helper. A rule
// that differs from the body's derivative is provably the one used (the gradient is exactly
// what the rule says), a right rule agrees with finite differences through loops, tapes and
// second order, and a rule that does not fit its helper is a diagnostic.

import { describe, expect, it } from "vitest";
import { compile } from "../compiler/pipeline.js";
import { checkGradients } from "../compiler/tools/check.js";
import { checkJvpHvp, compileModule, compileOrThrow, directionalCheck, importCode, maxRelErr } from "./helpers.js";

type Mod = Record<string, (...a: any[]) => any>;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** softplus with a rule `scale` times its true derivative; the entry sums it over w[i] x in a loop. */
const softplus = (scale: number, jvpScale?: number) => `import { type Tensor, sigmoid } from "adgen";
/** @vjp softplusVjp${jvpScale === undefined ? "" : "\n * @jvp softplusJvp"} */
function softplus(x: number): number {
  return Math.log(1 + Math.exp(x));
}
function softplusVjp(x: number, y: number, dy: number): number {
  return ${scale} * dy * sigmoid(x);
}
function softplusJvp(x: number, y: number, dx: number): number {
  return ${jvpScale ?? 1} * dx * sigmoid(x);
}
export function f(x: number, w: Tensor<[3]>): number {
  let s = 0;
  for (let i = 0; i < 3; i++) s += softplus(w[i] * x) * w[i];
  return s;
}
`;

/** The gradient of f when softplus' derivative is taken to be `scale` sigmoid. */
function fGradWith(scale: number, x: number, w: Float64Array): { x: number; w: Float64Array } {
  let gx = 0;
  const gw = new Float64Array(3);
  for (let i = 0; i < 3; i++) {
    const z = w[i]! * x;
    const d = scale * sigmoid(z) * w[i]!;
    gx += d * w[i]!;
    gw[i] = d * x + Math.log(1 + Math.exp(z));
  }
  return { x: gx, w: gw };
}

describe("custom rules: @vjp", () => {
  const x = 0.7;
  const w = Float64Array.from([0.5, -1.25, 2]);

  it("a rule that differs from the body's derivative is the one the gradient uses", async () => {
    const m = await compileModule<Mod>(softplus(3));
    const { value, grads } = m.fGrad!(x, w);
    let want = 0;
    for (let i = 0; i < 3; i++) want += Math.log(1 + Math.exp(w[i]! * x)) * w[i]!;
    expect(value).toBeCloseTo(want, 14);
    const g = fGradWith(3, x, w);
    expect(maxRelErr(grads.x, g.x)).toBeLessThan(1e-14);
    expect(maxRelErr(grads.w, g.w)).toBeLessThan(1e-14);
    // ... and fGradInto, fForward/fBackward alike
    const into = { x: 0, w: new Float64Array(3) };
    expect(m.fGradInto!(x, w, into)).toBe(value);
    expect(maxRelErr(into.w, g.w)).toBeLessThan(1e-14);
    // so --check catches the wrong rule
    const report = await checkGradients(await compileOrThrow(softplus(3)));
    expect(report.ok).toBe(false);
    expect(report.params.every((p) => p.status === "mismatch")).toBe(true);
  });

  it("the module declares a rule of numbers as the plain function the user wrote, and the gradient and JVP call it", async () => {
    const { code } = await compileOrThrow(softplus(3, 2));
    expect(code).toContain("function softplusVjp(x: number, y: number, dy: number): number {");
    expect(code).toContain("function softplusJvp(x: number, y: number, dx: number): number {");
    // each declared once, called from the functions that need it (not inlined there)
    expect(code!.match(/function softplusVjp\(/g)).toHaveLength(1);
    const body = (name: string): string => code!.slice(code!.indexOf(`export function ${name}(`), code!.indexOf("\n}\n", code!.indexOf(`export function ${name}(`)));
    for (const f of ["fBackward", "fGradInto"]) expect(body(f)).toMatch(/softplusVjp\(/);
    expect(body("fJvp")).toMatch(/softplusJvp\(/);
    expect(body("fBackward")).not.toMatch(/sigmoid|Math\.exp\(-/);
    // the called function is the one that counts: the module with its body replaced gives that gradient
    const m = await importCode<Mod>(code!.replace(/(function softplusVjp\([^)]*\): number \{)/, "$1\n  return 0;"));
    const g = m.fGrad!(x, w);
    for (let i = 0; i < 3; i++) expect(g.grads.w[i]).toBeCloseTo(Math.log(1 + Math.exp(w[i]! * x)), 14);
    expect(g.grads.x).toBe(0);
  });

  it("a right rule agrees with finite differences, with --check, and through fHvp (forward over the rule)", async () => {
    const src = softplus(1);
    const m = await compileModule<Mod>(src);
    const g = m.fGrad!(x, w);
    expect(maxRelErr(g.grads.w, fGradWith(1, x, w).w)).toBeLessThan(1e-14);
    expect(directionalCheck((a) => m.f!(...a), [x, w], [g.grads.x, g.grads.w])).toBeLessThan(1e-8);
    expect((await checkGradients(await compileOrThrow(src))).ok).toBe(true);
    // fJvp differentiates the body (no @jvp), fHvp forward mode over the VJP rule
    checkJvpHvp(m, "f", [x, w], ["x", "w"], ["x", "w"], g);
  });

  it("fHvp differentiates the rule, not the body: a rule 3x the derivative gives 3x the Hessian", async () => {
    const m3 = await compileModule<Mod>(softplus(3));
    const m1 = await compileModule<Mod>(softplus(1));
    const dir = { x: 0.3, w: Float64Array.from([1, -0.5, 0.25]) };
    const h3 = m3.fHvp!(x, w, dir);
    // the gradient with rule 3 is 3 * (rule-1 gradient) minus 2 * (the part through softplus' value)
    const eps = 1e-5;
    const moved = (s: number) => [x + s * eps * dir.x, Float64Array.from(w, (v, i) => v + s * eps * dir.w[i]!)] as const;
    const gp = m3.fGrad!(...moved(1)).grads;
    const gm = m3.fGrad!(...moved(-1)).grads;
    expect(Math.abs(h3.hvp.x - (gp.x - gm.x) / (2 * eps)) / Math.abs(h3.hvp.x)).toBeLessThan(1e-6);
    const h1 = m1.fHvp!(x, w, dir);
    expect(Math.abs(h3.hvp.x - h1.hvp.x)).toBeGreaterThan(0.1);
  });

  it("a straight-through estimator: round's rule passes the adjoint through", async () => {
    const m = await compileModule<Mod>(`import { type Tensor } from "adgen";
/** @vjp roundSte */
function roundST(x: number): number {
  return Math.round(x);
}
function roundSte(x: number, y: number, dy: number): number {
  return dy;
}
export function q(w: Tensor<[4]>, s: number): number {
  let e = 0;
  for (let i = 0; i < 4; i++) {
    const d = roundST(w[i] * s) / s - w[i];
    e += d * d + w[i] * roundST(w[i] * s);
  }
  return e;
}`);
    const w = Float64Array.from([0.26, -1.4, 2.6, 0.1]);
    const s = 4;
    const { grads } = m.qGrad!(w, s);
    // with round' := 1: d(d)/dw = 1 - 1 = 0, d(w round(w s))/dw = round(w s) + w s
    expect(Array.from(grads.w)).toEqual(Array.from(w, (v) => Math.round(v * s) + v * s));
  });

  it("several inputs: the rule returns a tuple of their adjoints; tensor inputs: a tensor", async () => {
    const m = await compileModule<Mod>(`import { type Tensor, mul, sum } from "adgen";
/** @vjp mulVjp */
function mul2(a: number, b: number): number {
  return a * b;
}
function mulVjp(a: number, b: number, y: number, dy: number): [number, number] {
  return [dy * b, 10 * dy * a];
}
/** @vjp normVjp */
function norm<M extends number>(v: Tensor<[M]>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}
function normVjp<M extends number>(v: Tensor<[M]>, y: number, dy: number): Tensor<[M]> {
  return mul(v, dy / y);
}
export function g<N extends number>(a: number, b: number, v: Tensor<[N]>): number {
  return mul2(a, b) + norm(v) * a;
}`);
    const v = Float64Array.from([3, -4, 12, 1, 2]);
    const { value, grads } = m.gGrad!(0.5, 2, v);
    const n = Math.hypot(...v);
    expect(value).toBeCloseTo(1 + n * 0.5, 13);
    expect(grads.a).toBeCloseTo(2 + n, 13); // dy * b, plus norm
    expect(grads.b).toBeCloseTo(10 * 0.5, 13); // 10 dy a: the rule's
    expect(maxRelErr(grads.v, Float64Array.from(v, (t) => (0.5 * t) / n))).toBeLessThan(1e-14);
  });

  it("a rule returning a tuple, or taking a tensor, is inlined where it applies (no buffers to allocate per call)", async () => {
    const { code } = await compileOrThrow(`import { type Tensor, mul } from "adgen";
/** @vjp mulVjp */
function mul2(a: number, b: number): number {
  return a * b;
}
function mulVjp(a: number, b: number, y: number, dy: number): [number, number] {
  return [dy * b, 10 * dy * a];
}
/** @vjp scaleVjp */
function scale(v: Tensor<[3]>): Tensor<[3]> {
  return mul(v, 2);
}
function scaleVjp(v: Tensor<[3]>, y: Tensor<[3]>, dy: Tensor<[3]>): Tensor<[3]> {
  return mul(dy, 2);
}
export function g(a: number, b: number, v: Tensor<[3]>): number {
  const u = scale(v);
  return mul2(a, b) + u[0] * a;
}`);
    expect(code).not.toMatch(/function (mulVjp|scaleVjp)\(/);
    expect(code).toContain("export function gGrad(");
  });

  it("in a while loop with a data-dependent trip count (the rule's inputs come off the tape)", async () => {
    const src = `import { sigmoid } from "adgen";
/** @vjp softplusVjp */
function softplus(x: number): number {
  return Math.log(1 + Math.exp(x));
}
function softplusVjp(x: number, y: number, dy: number): number {
  return dy * sigmoid(x);
}
export function h(x: number, c: number): number {
  let y = x;
  let k = 0;
  while (y < c && k < 50) {
    y = softplus(y) + 0.1 * y;
    k++;
  }
  return y * y;
}`;
    const m = await compileModule<Mod>(src);
    for (const [x, c] of [[0.3, 5], [-1, 2], [2, 1]] as const) {
      const { value, grads } = m.hGrad!(x, c);
      expect(value).toBe(m.h!(x, c));
      // (c only decides the trip count: no gradient)
      expect(Object.keys(grads)).toEqual(["x"]);
      expect(directionalCheck((a) => m.h!(...a), [x, c], [grads.x, undefined])).toBeLessThan(1e-7);
      checkJvpHvp(m, "h", [x, c], ["x"], ["x", "c"], { value, grads });
    }
  });
});

describe("custom rules: @jvp", () => {
  it("fJvp uses the rule (here 2x the derivative); fGrad differentiates the body", async () => {
    const m = await compileModule<Mod>(softplus(1, 2));
    const x = 0.4;
    const w = Float64Array.from([1.5, -0.5, 0.75]);
    const t = { x: 0.2, w: Float64Array.from([0.3, 1, -2]) };
    const { tangent } = m.fJvp!(x, w, t);
    // tangent of sum softplus(w x) w, with softplus' := 2 sigmoid
    let want = 0;
    for (let i = 0; i < 3; i++) {
      const z = w[i]! * x;
      want += 2 * sigmoid(z) * (t.w[i]! * x + w[i]! * t.x) * w[i]! + Math.log(1 + Math.exp(z)) * t.w[i]!;
    }
    expect(Math.abs(tangent - want) / Math.abs(want)).toBeLessThan(1e-14);
    const g = fGradWith(1, x, w);
    expect(maxRelErr(m.fGrad!(x, w).grads.w, g.w)).toBeLessThan(1e-14);
  });

  it("a right @jvp rule on a tensor-valued helper agrees with finite differences", async () => {
    const m = await compileModule<Mod>(`import { type Tensor, tanh, mul, sub } from "adgen";
/** @jvp squashJvp */
function squash(v: Tensor<[3]>): Tensor<[3]> {
  return tanh(v);
}
function squashJvp(v: Tensor<[3]>, y: Tensor<[3]>, dv: Tensor<[3]>): Tensor<[3]> {
  return sub(dv, mul(mul(y, y), dv));
}
export function k(v: Tensor<[3]>, s: number): Tensor<[3]> {
  return mul(squash(mul(v, s)), s);
}`);
    const v = Float64Array.from([0.2, -0.7, 1.1]);
    const t = { v: Float64Array.from([1, 0.5, -0.25]), s: 0.3 };
    const { tangent } = m.kJvp!(v, 1.5, t);
    const eps = 1e-6;
    const fp = m.k!(Float64Array.from(v, (a, i) => a + eps * t.v[i]!), 1.5 + eps * t.s);
    const fm = m.k!(Float64Array.from(v, (a, i) => a - eps * t.v[i]!), 1.5 - eps * t.s);
    expect(maxRelErr(tangent, Float64Array.from(fp, (a: number, i: number) => (a - fm[i]) / (2 * eps)))).toBeLessThan(1e-8);
  });
});

describe("custom rules: diagnostics", () => {
  const diag = async (src: string) => {
    const r = await compile(src, { fileName: "model.ts" });
    expect(r.code).toBeUndefined();
    const d = r.diagnostics[0]!;
    return `${d.line}:${d.col} ${d.code}: ${d.message} | ${d.hint}`;
  };
  const helper = (tag: string, rule: string) => `import { sigmoid } from "adgen";
/** ${tag} */
function softplus(x: number): number {
  return Math.log(1 + Math.exp(x));
}
${rule}
export function f(x: number): number {
  return softplus(x) * 2;
}`;

  it("names a missing rule, with the signature it needs", async () => {
    expect(await diag(helper("@vjp softplusVjp", ""))).toBe(
      "2:5 ADG1027: @vjp names 'softplusVjp', which is not a function declared in this file. | Declare it: function softplusVjp(x: number, y: number, dy: number): number.");
  });

  it("a rule with the wrong number of parameters, or of the wrong type, or returning the wrong type", async () => {
    expect(await diag(helper("@vjp r", "function r(x: number, dy: number): number { return dy; }"))).toMatch(
      /^6:10 ADG1027: The @vjp rule 'r' of 'softplus' takes 2 parameters; it needs 3: the inputs of 'softplus', its output and the output's adjoint\. \| Declare it as function r\(x: number, y: number, dy: number\): number\.$/);
    expect(await diag(helper("@jvp r", "function r(x: number, y: number, dx: Tensor<[2]>): number { return 0; }").replace("{ sigmoid }", "{ type Tensor, sigmoid }"))).toMatch(
      /^6:34 ADG1027: Parameter 'dx' of the @jvp rule 'r' has type f64\[2\], but the tangent of 'x' is f64\. \| Declare it as function r\(x: number, y: number, dx: number\): number\.$/);
    expect(await diag(helper("@vjp r", "function r(x: number, y: number, dy: number): [number, number] { return [dy, dy]; }"))).toMatch(
      /^6:47 ADG1027: The @vjp rule 'r' returns f64\[2\]; it must return the adjoint of 'x' \(f64\)\./);
  });

  it("a tag without a name, two tags, a rule on an entry point, inputs of different types", async () => {
    expect(await diag(helper("@vjp", ""))).toMatch(/^2:5 ADG1027: @vjp on 'softplus' names no function\./);
    expect(await diag(helper("@vjp r\n * @vjp r", "function r(x: number, y: number, dy: number): number { return dy; }"))).toMatch(/ADG1027: 'softplus' has two @vjp tags\./);
    expect(await diag(`/** @vjp r */
export function f(x: number): number { return x; }
function r(x: number, y: number, dy: number): number { return dy; }`)).toMatch(/^1:5 ADG1027: @vjp is on the entry point 'f': a derivative rule belongs on a helper\./);
    expect(await diag(`import { type Tensor, sum } from "adgen";
/** @vjp r */
function h(x: number, v: Tensor<[2]>): number { return x * sum(v); }
function r(x: number, v: Tensor<[2]>, y: number, dy: number): [number, number] { return [dy, dy]; }
export function f(x: number, v: Tensor<[2]>): number { return h(x, v); }`)).toMatch(/^2:5 ADG1027: 'h' has inputs of different types \(f64, f64\[2\]\)/);
  });

  it("a rule that calls its own helper is recursion", async () => {
    expect(await diag(helper("@vjp r", "function r(x: number, y: number, dy: number): number { return dy * softplus(x); }"))).toMatch(/ADG1005/);
  });
});
