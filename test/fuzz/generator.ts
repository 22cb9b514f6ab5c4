// A generator of random, valid adgen DSL programs, for property tests (see
// test/property.test.ts).
//
// A program is generated from one integer seed (mulberry32, so a failure is reproducible
// from the seed alone). It is built as a small typed AST -- not as text -- so that a failing
// program can be SHRUNK: `shrinkCandidates` proposes smaller programs (statements removed,
// branches and loops unwrapped, loops shortened, sub-expressions replacing expressions), and
// the test keeps any candidate that still fails the same way.
//
// What a program contains (mixed at random):
// - an exported entry point with 2-4 scalar parameters and tensor parameters of small shapes
//   (created on demand: weights for linear/conv2d, inputs, integer labels for crossEntropy);
//   it returns a number (a loss) or, sometimes, a tensor; sometimes a `@wrt` tag;
// - helper functions (not exported) called from the entry point and from later helpers;
// - nested scalar arithmetic + - * / **, unary minus, and Math functions restricted to safe
//   domains: exp of bounded arguments, log/sqrt of 1 + x*x, pow with small integer
//   exponents, sin cos tan tanh atan asinh sinh cosh asin acos atanh (of 0.9 tanh x), abs,
//   max/min (2-3 arguments), hypot, sign/floor (piecewise constant), log1p log2 log10 expm1;
//   adgen's scalar relu/sigmoid/tanh/exp/log;
// - const/let, reassignment, += -= *=;
// - if/else and ?: with data-dependent conditions (comparisons, && || !), loop-counter
//   conditions, and early returns inside branches;
// - for loops with static bounds (up, down, step 2, `<=`/`>=`, `x.length`), printed as for,
//   while, do-while or for-with-break, carrying scalar
//   state (running sums, bounded products, Horner, tanh recurrences, running max, conditional
//   updates), nested loops;
// - tensors: element reads `t[i][j]` with loop-counter indices (i, i + 1, n - 1 - i),
//   `zeros([...])` filled by element writes (= += -= *=) in loops, loop-carried tensors
//   (a recurrent cell), partial indexing `t[i]` passed on to layer functions, and
//   linear / conv2d (stride 1-2, padding 0-2, rectangular kernels) / maxpool2d / avgpool2d
//   (size and stride 1-3) / relu / sigmoid / tanh / exp / log / softmax / logSoftmax /
//   crossEntropy (integer label or a batch of labels) / sum / mean / dot / flatten (with a
//   start dim) / add / sub / mul / div, on random small shapes, batched forms included;
// - run-time sizes (SPEC section 5): some entry points are generic, `e<N extends number,
//   M extends number>(x: Tensor<[N, 3]>, ...)`, read the sizes as `x.length`, `x[0].length`
//   or `const n = x.length`, loop to them (up, down, by 2), index with `i`, `n - 1 - i`,
//   `(i + 1) % n`, `Math.floor(i / 2)`, fill `zeros([x.length])` / `zeros([n, 2])` (a prefix
//   recurrence over earlier elements among the fillings), reduce with sum / mean / dot /
//   linear on a batch of any size, and may return a `Tensor<[N]>`; some take an integer
//   parameter `steps` as a loop bound. Each such program carries its runs -- N = 1, a small
//   and a larger N, integer values from 0 -- and the harness checks it at every run (with a
//   trailing `{ N, M }` argument where no array determines the sizes);
// - triangular loops (`j < i`, `j <= i`, `j = i + 1 ..`, to a literal or a run-time size),
//   `%` on counters (`i % 2 === 0` conditions, `(i + 1) % 3` indices) and on numbers
//   (`a % 0.7`, `a % (1.5 + Math.tanh(b))`: random inputs lie on none of its jumps).
//
// Values are kept in a sane range while generating: each expression carries an upper bound
// `ub` of its magnitude (a rough interval analysis) and is scaled down or squashed with tanh
// when the bound gets large; loop-carried updates keep their variable's bound invariant. The
// test still discards a program whose reference output is not finite or is huge (> 1e6), so
// a loose bound can never produce a false failure.

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

export interface Rand {
  next(): number;
  /** An integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number;
  real(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  /** Picks among weighted alternatives (weights <= 0 are skipped). */
  weighted<T>(xs: readonly (readonly [number, T])[]): T;
}

export function makeRand(seed: number): Rand {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r: Rand = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    real: (lo, hi) => lo + next() * (hi - lo),
    chance: (p) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    weighted: (xs) => {
      const live = xs.filter(([w]) => w > 0);
      let total = 0;
      for (const [w] of live) total += w;
      let u = next() * total;
      for (const [w, x] of live) {
        u -= w;
        if (u < 0) return x;
      }
      return live[live.length - 1]![1];
    },
  };
  return r;
}

/** A 32-bit hash of a string and numbers (FNV-1a), for per-parameter input seeds. */
export function hash32(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join("\u0001")) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The AST
// ---------------------------------------------------------------------------------------------

export type Shape = readonly number[];
/** A dimension as written: a literal, or a size type parameter of the entry (`N`). */
export type Dim = number | string;
/**
 * "int" marks an integer-only operand (a class label, a size): never a stand-in for a number
 * while shrinking. A tensor with `dims` has run-time sizes (`Tensor<[N, 3]>`); its `shape` is
 * then the shape at the largest sizes the program is run at (for magnitude bounds only).
 */
export type Ty =
  | { readonly k: "num" } | { readonly k: "bool" } | { readonly k: "int" }
  | { readonly k: "ten"; readonly shape: Shape; readonly dims?: readonly Dim[] };
export const NUM: Ty = { k: "num" };
export const BOOL: Ty = { k: "bool" };
export const INT: Ty = { k: "int" };
/** The shape of a tensor type ([] for anything else). */
export const shapeOf = (t: Ty): Shape => (t.k === "ten" ? t.shape : []);
export const ten = (shape: Shape): Ty => ({ k: "ten", shape: [...shape] });
const sameDims = (a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean =>
  a === undefined ? b === undefined : b !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
export const sameTy = (a: Ty, b: Ty): boolean =>
  a.k === b.k && (a.k !== "ten" || (b.k === "ten" && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) &&
    sameDims(a.dims, b.dims)));
export const showTy = (t: Ty): string =>
  (t.k === "ten" ? `Tensor<[${(t.dims ?? t.shape).join(", ")}]>` : t.k === "bool" ? "boolean" : "number");
/** A tensor type with run-time sizes; `at` gives the sizes its nominal shape is taken at. */
export const symTen = (dims: readonly Dim[], at: (sym: string) => number): Ty =>
  ({ k: "ten", shape: dims.map((d) => (typeof d === "number" ? d : at(d))), dims: [...dims] });
/** The values of the sizes and integer parameters in one run of a program: { N: 3, steps: 2 }. */
export type SizeRun = Readonly<Record<string, number>>;
/** The shape of a tensor type at a run's sizes ([] for anything else). */
export const shapeAt = (t: Ty, run: SizeRun): Shape =>
  t.k !== "ten" ? [] : t.dims ? t.dims.map((d) => (typeof d === "number" ? d : run[d]!)) : t.shape;
export const sizeOf = (s: Shape): number => s.reduce((p, d) => p * d, 1);

interface Printed {
  /** The expression's text. */
  readonly s: string;
  /** The text, parenthesised unless it is atomic. */
  readonly p: string;
}

export interface Expr {
  readonly ty: Ty;
  readonly kids: readonly Expr[];
  readonly fmt: (k: readonly Printed[]) => string;
  /** Atomic: a name, a literal >= 0, a call or an index (never needs parentheses). */
  readonly atom: boolean;
  /** Upper bound of the magnitude of the value (elementwise for tensors); generation only. */
  readonly ub: number;
  /** "cond" for ?:, "helper" for a helper call (see scalarCopies). */
  readonly tag?: "cond" | "helper";
}

export type AssignOp = "=" | "+=" | "-=" | "*=" | "/=";

export type Stmt =
  | { readonly k: "decl"; readonly kw: "const" | "let"; readonly name: string; readonly init: Expr }
  /** `let v: number;`, assigned later on every path. */
  | { readonly k: "declNoInit"; readonly name: string }
  | { readonly k: "assign"; readonly target: string; readonly op: AssignOp; readonly e: Expr }
  | { readonly k: "if"; readonly cond: Expr; readonly then: readonly Stmt[]; readonly els: readonly Stmt[] | null }
  | {
      readonly k: "for"; readonly v: string; readonly start: number; readonly step: number; readonly count: number;
      readonly inclusive: boolean; readonly lengthOf?: string;
      /** A module-level constant equal to the exclusive bound (up loops from 0, step 1). */
      readonly boundConst?: string;
      /** A header written out (a bound known only at run time, a triangular loop); start/step/count are then nominal. */
      readonly header?: LoopHeader;
      readonly body: readonly Stmt[];
    }
  | { readonly k: "return"; readonly e: Expr };

/** The parts of a loop header, `for (let <v> = <init>; <cond>; <inc>)`. */
export interface LoopHeader {
  readonly init: string;
  readonly cond: string;
  readonly inc: string;
  /** The fewest iterations any execution of the loop makes (a do-while needs 1). */
  readonly minTrips: number;
}

export interface Param {
  readonly name: string;
  readonly ty: Ty;
  /**
   * real: differentiable input; label/labels: integer class indices in [0, classes); int: an
   * integer parameter (a loop bound, no gradient) whose value comes from the program's runs.
   */
  readonly role: "real" | "label" | "labels" | "int";
  readonly classes?: number;
}

export interface Fn {
  readonly name: string;
  readonly exported: boolean;
  readonly params: readonly Param[];
  readonly ret: Ty;
  readonly body: readonly Stmt[];
  readonly wrt?: readonly string[];
  /** Size type parameters (`<N extends number, M extends number>`). */
  readonly typeParams?: readonly string[];
}

export interface Program {
  readonly seed: number;
  /** Module-level constants (`const K7a = 3;`). */
  readonly consts?: readonly { readonly name: string; readonly value: number }[];
  /** Helpers first (a helper calls only earlier ones), the entry point last. */
  readonly fns: readonly Fn[];
  /**
   * The sizes (type parameters) and integer parameters the entry is called with: one
   * program check calls the generated code at every run. Absent: one run, no sizes.
   */
  readonly runs?: readonly SizeRun[];
  /** Helpers with derivative rules of their own (source text), printed where a function calls them. */
  readonly rules?: readonly { readonly name: string; readonly text: string }[];
}

/** The runs of a program (one empty run when it has no sizes or integer parameters). */
export const runsOf = (p: Program): readonly SizeRun[] => (p.runs?.length ? p.runs : [{}]);

export const entryOf = (p: Program): Fn => p.fns[p.fns.length - 1]!;

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

export function printExpr(e: Expr): string {
  const kids = e.kids.map((k): Printed => {
    const s = printExpr(k);
    return { s, p: k.atom ? s : `(${s})` };
  });
  return e.fmt(kids);
}

function loopHeader(s: Extract<Stmt, { k: "for" }>): string {
  const last = s.start + (s.count - 1) * s.step;
  const up = s.step > 0;
  let bound: string;
  let cmp: string;
  if (s.lengthOf !== undefined) {
    bound = `${s.lengthOf}.length`;
    cmp = "<";
  } else if (s.boundConst !== undefined) {
    bound = s.boundConst;
    cmp = "<";
  } else if (s.inclusive) {
    bound = String(last);
    cmp = up ? "<=" : ">=";
  } else {
    bound = String(up ? last + 1 : last - 1);
    cmp = up ? "<" : ">";
  }
  const inc = s.step === 1 ? `${s.v}++` : s.step === -1 ? `${s.v}--` : s.step > 0 ? `${s.v} += ${s.step}` : `${s.v} -= ${-s.step}`;
  return `for (let ${s.v} = ${s.start}; ${s.v} ${cmp} ${bound}; ${inc})`;
}

function printStmts(stmts: readonly Stmt[], indent: string, out: string[]): void {
  for (const s of stmts) {
    switch (s.k) {
      case "decl":
        out.push(`${indent}${s.kw} ${s.name} = ${printExpr(s.init)};`);
        break;
      case "declNoInit":
        out.push(`${indent}let ${s.name}: number;`);
        break;
      case "assign":
        out.push(`${indent}${s.target} ${s.op} ${printExpr(s.e)};`);
        break;
      case "return":
        out.push(`${indent}return ${printExpr(s.e)};`);
        break;
      case "if":
        out.push(`${indent}if (${printExpr(s.cond)}) {`);
        printStmts(s.then, indent + "  ", out);
        if (s.els && s.els.length > 0) {
          out.push(`${indent}} else {`);
          printStmts(s.els, indent + "  ", out);
        }
        out.push(`${indent}}`);
        break;
      case "for":
        printLoop(s, indent, out);
        break;
    }
  }
}

/**
 * A counted loop in one of the forms the DSL accepts, all with the same iterations (the
 * form picked from the loop itself, so a program prints the same every time): the `for`
 * header, a `while` with the counter before it, a `do`/`while` (when it runs at least
 * once), or a `for` without a condition left by `break`.
 */
function printLoop(s: Extract<Stmt, { k: "for" }>, indent: string, out: string[]): void {
  const header = s.header ? `for (let ${s.v} = ${s.header.init}; ${s.header.cond}; ${s.header.inc})` : loopHeader(s);
  const [v, start, cond, inc] = s.header
    ? [s.v, s.header.init, s.header.cond, s.header.inc]
    : /^for \(let (\w+) = (-?\d+); (.*); (.*)\)$/.exec(header)!.slice(1);
  const form = (s.start * 7 + s.count * 13 + s.step * 5 + v!.length + s.body.length * 3) % 4;
  const body = (extra: string): void => {
    printStmts(s.body, indent + "  " + extra, out);
  };
  if (form === 1) {
    out.push(`${indent}{`, `${indent}  let ${v} = ${start};`, `${indent}  while (${cond}) {`);
    body("  ");
    out.push(`${indent}    ${inc};`, `${indent}  }`, `${indent}}`);
  } else if (form === 2 && (s.header ? s.header.minTrips >= 1 : s.count >= 1)) {
    out.push(`${indent}{`, `${indent}  let ${v} = ${start};`, `${indent}  do {`);
    body("  ");
    out.push(`${indent}    ${inc};`, `${indent}  } while (${cond});`, `${indent}}`);
  } else if (form === 3) {
    out.push(`${indent}for (let ${v} = ${start}; ; ${inc}) {`, `${indent}  if (!(${cond})) break;`);
    body("");
    out.push(`${indent}}`);
  } else {
    out.push(`${indent}${header} {`);
    body("");
    out.push(`${indent}}`);
  }
}

export function printFn(f: Fn): string {
  const out: string[] = [];
  if (f.wrt) out.push(`/** @wrt ${f.wrt.join(", ")} */`);
  const params = f.params.map((p) => `${p.name}: ${showTy(p.ty)}`).join(", ");
  const tps = f.typeParams?.length ? `<${f.typeParams.map((t) => `${t} extends number`).join(", ")}>` : "";
  out.push(`${f.exported ? "export " : ""}function ${f.name}${tps}(${params}): ${showTy(f.ret)} {`);
  printStmts(f.body, "  ", out);
  out.push("}");
  return out.join("\n");
}

export const BUILTIN_NAMES = [
  "linear", "conv2d", "maxpool2d", "avgpool2d", "relu", "sigmoid", "tanh", "exp", "log", "softmax", "logSoftmax",
  "crossEntropy", "flatten", "sum", "mean", "dot", "add", "sub", "mul", "div", "zeros",
];

/** The `import ... from "adgen"` line for a body of code: Tensor and the builtins it calls. */
export function importLine(code: string): string {
  const used = BUILTIN_NAMES.filter((n) => new RegExp(`(?<![.\\w])${n}\\(`).test(code));
  const names = [...(/Tensor</.test(code) ? ["type Tensor"] : []), ...used];
  return names.length ? `import { ${names.join(", ")} } from "adgen";` : "";
}

/** The functions of a program that its entry point uses (helpers only when called). */
export function liveFns(p: Program): Fn[] {
  const entry = entryOf(p);
  const live = new Set<Fn>([entry]);
  for (let k = p.fns.length - 1; k >= 0; k--) {
    const f = p.fns[k]!;
    if (!live.has(f)) continue;
    const text = printFn(f);
    for (const g of p.fns) if (g !== f && new RegExp(`\\b${g.name}\\(`).test(text)) live.add(g);
  }
  return p.fns.filter((f) => live.has(f));
}

/** The source text of several programs in one file (each entry point with its helpers). */
export function printPrograms(progs: readonly Program[]): string {
  const bodies = progs.flatMap((p) => {
    const fns = liveFns(p).map(printFn);
    const text = fns.join("\n");
    const consts = (p.consts ?? []).filter((c) => new RegExp(`\\b${c.name}\\b`).test(text));
    const rules = (p.rules ?? []).filter((h) => new RegExp(`\\b${h.name}\\(`).test(text)).map((h) => h.text);
    return [...(consts.length ? [consts.map((c) => `const ${c.name} = ${c.value};`).join("\n")] : []), ...rules, ...fns];
  });
  const code = bodies.join("\n\n");
  const imp = importLine(code);
  return (imp ? imp + "\n\n" : "") + code + "\n";
}

export const printProgram = (p: Program): string => printPrograms([p]);

// ---------------------------------------------------------------------------------------------
// Expression builders
// ---------------------------------------------------------------------------------------------

const fmtNum = (v: number): string => String(v);

function leaf(ty: Ty, text: string, ub: number, atom = true): Expr {
  return { ty, kids: [], fmt: () => text, atom, ub };
}
export const lit = (v: number): Expr => leaf(NUM, fmtNum(v), Math.abs(v), v >= 0 && !Object.is(v, -0));

/** `name(kid, kid, ...extra)`. */
function call(name: string, kids: readonly Expr[], ty: Ty, ub: number, extra = ""): Expr {
  return { ty, kids, fmt: (k) => `${name}(${k.map((x) => x.s).join(", ")}${extra})`, atom: true, ub };
}
function bin(op: string, a: Expr, b: Expr, ub: number, ty: Ty = NUM): Expr {
  return { ty, kids: [a, b], fmt: (k) => `${k[0]!.p} ${op} ${k[1]!.p}`, atom: false, ub };
}
/** A template over the kids' texts, e.g. (k) => `Math.log(1 + ${k[0].p} * ${k[0].p})`. */
function tpl(ty: Ty, kids: readonly Expr[], ub: number, fmt: (k: readonly Printed[]) => string, atom = true): Expr {
  return { ty, kids, fmt, atom, ub };
}

/** A number near `x` that prints short: 0.05, 0.1, 0.25, 0.5. */
function niceScale(x: number): number {
  for (const s of [0.5, 0.25, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001]) if (s <= x) return s;
  return 0.00005;
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/** Switches for features; a feature is turned off only for a compiler bug named in the report. */
export interface GenFlags {
  readonly helpers: boolean;
  readonly earlyReturn: boolean;
  readonly loops: boolean;
  readonly conv2d: boolean;
  readonly pooling: boolean;
  readonly linear: boolean;
  readonly softmax: boolean;
  readonly crossEntropy: boolean;
  readonly batchedCrossEntropy: boolean;
  readonly flatten: boolean;
  readonly tensorReturn: boolean;
  readonly wrtTag: boolean;
  readonly loopCarriedTensors: boolean;
  readonly elementWrites: boolean;
  readonly ternaryTensors: boolean;
  readonly pieceWiseConstant: boolean;
  readonly paramReassign: boolean;
  /** Layers written out as loops: matrix-vector product, convolution, max-pooling, softmax. */
  readonly handLayers: boolean;
  // The flags below switch off features that exposed compiler bugs, so that a suite can stay
  // green while a bug is open. All five bugs were fixed in 5a50e40; the flags stay for
  // bisecting a regression.
  /**
   * A label parameter used by crossEntropy inside a loop body. Off: COMPILER BUG 1 (a
   * parameter read inside a loop only non-differentiably -- a label, a condition -- got a
   * zero gradient instead of none).
   */
  readonly labelParamInLoops: boolean;
  /**
   * `t = <another tensor variable or parameter>` inside a loop, t a `let` tensor declared
   * outside it. Off: COMPILER BUG 2 (ADG1016 "'t' becomes another variable's array in this
   * loop, and the loop writes into it" although the loop never wrote into t: a write into
   * t's earlier array before the loop counted). When off, the loop assigns `add(<expr>, 0)`.
   */
  readonly tensorVarAssignInLoops: boolean;
  /**
   * `let v: number; if (c) { v = x; } else { v = x; }` (both branches assign the same
   * value). Off: COMPILER BUG 3 (ADG1017 "'v' is used before it is assigned" on the next
   * read). When off, the else branch assigns `x + 0.5`.
   */
  readonly sameValueInBothBranches: boolean;
  /**
   * Scalar copies `let s = a;` / `s = a;` / `s = c ? a : a;` / `s = id(a);` (a a variable).
   * Off: COMPILER BUG 4 (the forward function reused a's JavaScript variable for s when a was
   * a `let` -- the result of an if or a loop -- so updating s in a loop that still reads a
   * computed a wrong value; the fGrad path was right). When off, see noCopy.
   */
  readonly scalarCopies: boolean;
  /**
   * Conditions on loop counters that may never (or always) hold, alone or combined, such as
   * `0 > i` in a loop from 0. Off: COMPILER BUG 5 (ADG1009 "Index out of range: '2 * i'
   * takes values from -2 to 0" inside the never-taken branch: the empty range of the
   * narrowed counter was not treated as empty). When off, a counter gets at most one
   * condition, which holds for some iterations and fails for others, and counters are not
   * compared with data or literals otherwise.
   */
  readonly infeasibleCounterConditions: boolean;
  /**
   * Entry points generic in their sizes (`<N extends number>`, `Tensor<[N, 3]>`, loops to
   * `x.length` / `x[0].length`, `zeros([x.length])`, triangular loops over them) and integer
   * parameters as loop bounds (`steps: number`), called at several sizes (SPEC section 5).
   */
  readonly runTimeSizes: boolean;
  /** `%`: on loop counters (`x[(i + 1) % n]`, `i % 2 === 0`) and on numbers (`a % 0.7`). */
  readonly modulo: boolean;
  /** Triangular loops (`j < i`, `j <= i`, `j = i + 1 ..`) and `Math.floor(i / 2)` indices. */
  readonly triangularLoops: boolean;
  /** Helpers with their own derivative rules (@vjp, @jvp: right ones), called in expressions. */
  readonly customRules: boolean;
}

export const DEFAULT_FLAGS: GenFlags = {
  helpers: true,
  earlyReturn: true,
  loops: true,
  conv2d: true,
  pooling: true,
  linear: true,
  softmax: true,
  crossEntropy: true,
  batchedCrossEntropy: true,
  flatten: true,
  tensorReturn: true,
  wrtTag: true,
  loopCarriedTensors: true,
  elementWrites: true,
  ternaryTensors: true,
  pieceWiseConstant: true,
  paramReassign: true,
  handLayers: true,
  labelParamInLoops: true,
  tensorVarAssignInLoops: true,
  sameValueInBothBranches: true,
  scalarCopies: true,
  infeasibleCounterConditions: true,
  runTimeSizes: true,
  modulo: true,
  triangularLoops: true,
  customRules: true,
};

const LIMIT = 20; // target bound on magnitudes

interface Var {
  readonly name: string;
  readonly ty: Ty;
  readonly mutable: boolean;
  ub: number;
  /** A fresh zeros(...) tensor that nothing aliases: element writes are allowed. */
  writable: boolean;
  reads: number;
  /** Number of enclosing loops at the declaration. */
  readonly loopDepth: number;
  hidden?: boolean;
  readonly param?: Param;
}

interface Loop {
  readonly v: string;
  /** The counter's values (for a loop of run-time trip count, its values at the largest run). */
  readonly vals: readonly number[];
  /**
   * A loop over a run-time size S: `full` takes the counter through (a subset of) [0, S),
   * `lt`/`le` through [0, outer) / [0, outer], `after` through (outer, S). Such a counter
   * indexes only tensors with the run-time dimension S (see symIndex), never a literal one.
   */
  readonly sym?: { readonly s: string; readonly kind: "full" | "lt" | "le" | "after"; readonly outer?: string };
  /** A counter that indexes nothing (a loop to an integer parameter such as `steps`). */
  readonly opaque?: boolean;
  /** A branch condition on this counter exists already (see infeasibleCounterConditions). */
  conditioned?: boolean;
}

/** A loop with a written-out header: its counter's values and what the counter may index. */
interface Range {
  readonly header: LoopHeader;
  readonly vals: readonly number[];
  readonly sym?: Loop["sym"];
  readonly opaque?: boolean;
}

interface HelperSig {
  readonly name: string;
  readonly params: readonly Param[];
  readonly ret: Ty;
  readonly ub: number;
}

class Gen {
  readonly r: Rand;
  scopes: Var[][] = [];
  loops: Loop[] = [];
  params: Param[] = [];
  helpers: HelperSig[] = [];
  isEntry = false;
  earlyReturns = 0;
  retTy: Ty = NUM;
  counter = 0;
  loopCounter = 0;
  consts: { name: string; value: number }[] = [];
  /** Helpers with rules of their own that this program calls, by kind. */
  rules = new Map<string, { readonly name: string; readonly text: string }>();
  /** No loop counters as numbers (inside conditions, see infeasibleCounterConditions). */
  noCounterLeaves = false;
  /** The entry's size type parameters with their values in each run (empty: no run-time sizes). */
  syms = new Map<string, readonly number[]>();
  /** The entry's integer parameters (loop bounds) with their values in each run. */
  ints: { readonly name: string; readonly values: readonly number[] }[] = [];
  /** `const n0 = x.length;` at the top of the entry: a name for a size. */
  sizeConsts: { readonly name: string; readonly sym: string }[] = [];
  /** Statements that open the entry's body (the size constants). */
  prelude: Stmt[] = [];
  /** Remaining budget of nodes, so that programs stay small. */
  budget = 0;
  stmtDepth = 0;

  constructor(seed: number, readonly flags: GenFlags, readonly tag: string) {
    this.r = makeRand(seed);
  }

  fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  /** A module-level constant of this program with the given value (reused if it exists). */
  moduleConst(value: number): string {
    const c = this.consts.find((k) => k.value === value);
    if (c) return c.name;
    const name = `K${this.tag}${String.fromCharCode(97 + this.consts.length)}`;
    this.consts.push({ name, value });
    return name;
  }

  // ------------------------------------------------------------------ scopes
  vars(): Var[] {
    return this.scopes.flat().filter((v) => !v.hidden && !(v.ty.k === "ten" && v.ty.dims));
  }
  /** The tensors with run-time dimensions in scope (generated only by the code below that knows them). */
  symVars(): Var[] {
    return this.scopes.flat().filter((v) => !v.hidden && v.ty.k === "ten" && v.ty.dims !== undefined);
  }
  /** Generates with v out of sight: `s += e` in a loop must not read s (growth). */
  without<T>(v: Var, f: () => T): T {
    const was = v.hidden;
    v.hidden = true;
    try {
      return f();
    } finally {
      v.hidden = was;
    }
  }
  declare(v: Omit<Var, "reads" | "loopDepth"> & { reads?: number }): Var {
    const full: Var = { reads: 0, loopDepth: this.loops.length, ...v };
    this.scopes[this.scopes.length - 1]!.push(full);
    return full;
  }
  withScope<T>(f: () => T): T {
    this.scopes.push([]);
    try {
      return f();
    } finally {
      this.scopes.pop();
    }
  }
  read(v: Var): Expr {
    v.reads++;
    return leaf(v.ty, v.name, v.ub);
  }
  /** Prefers variables nobody has read yet. */
  pickVar(pred: (v: Var) => boolean): Var | undefined {
    const vs = this.vars().filter(pred);
    if (vs.length === 0) return undefined;
    const unread = vs.filter((v) => v.reads === 0);
    return this.r.chance(0.6) && unread.length ? this.r.pick(unread) : this.r.pick(vs);
  }
  /** How many times a statement here runs per execution of v's declaration. */
  trips(v: Var): number {
    return this.loops.slice(v.loopDepth).reduce((p, l) => p * l.vals.length, 1);
  }

  // ------------------------------------------------------------------ bounds
  squash(e: Expr): Expr {
    if (e.ub <= LIMIT) return e;
    const s = niceScale(LIMIT / e.ub);
    if (e.ty.k === "num") {
      return this.r.chance(0.7) ? bin("*", lit(s), e, s * e.ub) : call("Math.tanh", [bin("*", lit(s), e, s * e.ub)], NUM, 1);
    }
    return this.r.chance(0.6) ? call("mul", [e, lit(s)], e.ty, s * e.ub) : call("tanh", [call("mul", [e, lit(s)], e.ty, s * e.ub)], e.ty, 1);
  }
  /** Forces |e| <= bound (for loop-carried updates, so the bound is invariant). */
  within(e: Expr, bound: number): Expr {
    if (e.ub <= bound) return e;
    const s = niceScale(bound / e.ub);
    if (e.ty.k === "num") return bin("*", lit(s), e, s * e.ub);
    return call("mul", [e, lit(s)], e.ty, s * e.ub);
  }

  literal(): Expr {
    const k = this.r.int(0, 19);
    if (k === 0) return this.r.chance(0.5) ? leaf(NUM, "Math.PI", Math.PI) : tpl(NUM, [], Math.E / 2, () => "Math.E / 2", false);
    if (k === 1) {
      const v = Math.round(this.r.real(0.1, 2) * 100) / 100;
      return leaf(NUM, this.moduleConst(v), v);
    }
    const v = Math.round(this.r.real(-2, 2) * 100) / 100;
    return lit(v === 0 ? 0.5 : v);
  }
  posLiteral(lo = 0.5, hi = 3): Expr {
    return lit(Math.round(this.r.real(lo, hi) * 100) / 100);
  }

  // ------------------------------------------------------------------ indices
  /** An index expression in [0, dim) for every value of the enclosing loop counters. */
  index(dim: number): string {
    const opts: string[] = [];
    const fixed = this.loops.filter((l) => !l.sym && !l.opaque && l.vals.length > 0);
    for (const l of fixed) {
      const lo = Math.min(...l.vals);
      const hi = Math.max(...l.vals);
      if (lo >= 0 && hi < dim) {
        opts.push(l.v, l.v);
        if (dim - 1 - hi >= 0 && lo >= 0) opts.push(`${dim - 1} - ${l.v}`);
      }
      for (const o of [1, 2]) {
        if (lo + o >= 0 && hi + o < dim) opts.push(`${l.v} + ${o}`);
        if (lo - o >= 0 && hi - o < dim) opts.push(`${l.v} - ${o}`);
      }
      if (lo >= 0 && 2 * hi < dim) opts.push(`2 * ${l.v}`);
      // (sometimes: the options above keep their share)
      if (this.flags.triangularLoops && lo >= 0 && Math.floor(hi / 2) < dim && hi >= 2 && this.r.chance(0.4)) opts.push(`Math.floor(${l.v} / 2)`);
      if (this.flags.modulo && lo >= 0 && hi >= dim - 1 && this.r.chance(0.4)) opts.push(`(${l.v} + ${this.r.int(1, 2)}) % ${dim}`);
      // two counters: i + k, 2 * i + k (as in a convolution written out)
      for (const m of fixed) {
        if (m === l) continue;
        const lo2 = Math.min(...m.vals);
        const hi2 = Math.max(...m.vals);
        if (lo >= 0 && lo2 >= 0 && hi + hi2 < dim) opts.push(`${l.v} + ${m.v}`);
        if (lo >= 0 && lo2 >= 0 && 2 * hi + hi2 < dim) opts.push(`${l.v} * 2 + ${m.v}`);
      }
    }
    if (opts.length && this.r.chance(0.8)) return this.r.pick(opts);
    return String(this.r.int(0, dim - 1));
  }

  // ------------------------------------------------------------------ parameters
  newParam(ty: Ty, role: Param["role"] = "real", classes?: number): Param {
    const prefix = role === "int" ? "steps" : role !== "real" ? "lbl" : ty.k === "num" ? "x" : shapeOf(ty).length >= 2 ? "w" : "t";
    const p: Param = { name: this.fresh(prefix), ty, role, ...(classes !== undefined ? { classes } : {}) };
    this.params.push(p);
    if (role === "real") this.scopes[0]!.push({ name: p.name, ty, mutable: this.flags.paramReassign && ty.k === "num", ub: ty.k === "num" ? 1.5 : 1, writable: false, reads: 0, loopDepth: 0, param: p });
    return p;
  }
  canAddParam(shape: Shape): boolean {
    const elems = this.params.reduce((s, p) => s + (p.ty.k === "ten" ? sizeOf(p.ty.shape) : 1), 0);
    return this.isEntry && this.params.length < 14 && elems + sizeOf(shape) <= 600;
  }

  // ------------------------------------------------------------------ scalar expressions
  scalar(d: number): Expr {
    this.budget--;
    if (d <= 0 || this.budget <= 0 || this.r.chance(0.2)) return this.scalarLeaf();
    const r = this.r;
    const hasTen = this.vars().some((v) => v.ty.k === "ten");
    const numHelpers = this.helpers.filter((h) => h.ret.k === "num");
    const pick = r.weighted<() => Expr>([
      [6, () => {
        const op = r.pick(["+", "-", "+", "*"]);
        const a = this.scalar(d - 1);
        const b = this.scalar(d - 1);
        return op === "*" ? bin("*", a, b, a.ub * b.ub) : bin(op, a, b, a.ub + b.ub);
      }],
      [2, () => this.division(d)],
      [1, () => {
        const a = this.scalar(d - 1);
        return tpl(NUM, [a], a.ub, (k) => `-${k[0]!.p}`, false);
      }],
      [7, () => this.mathCall(d)],
      [2, () => {
        const c = this.cond(d - 1);
        const a = this.scalar(d - 1);
        const b = this.scalar(d - 1);
        return { ...tpl(NUM, [c, a, b], Math.max(a.ub, b.ub), (k) => `${k[0]!.p} ? ${k[1]!.s} : ${k[2]!.s}`, false), tag: "cond" };
      }],
      [hasTen || this.isEntry ? 4 : 1, () => this.reduction(d)],
      [numHelpers.length ? 3 : 0, () => this.helperCall(r.pick(numHelpers), d)],
    ]);
    return this.squash(pick());
  }

  scalarLeaf(): Expr {
    const r = this.r;
    const nums = this.vars().filter((v) => v.ty.k === "num");
    const tens = this.vars().filter((v) => v.ty.k === "ten");
    return r.weighted<() => Expr>([
      [nums.length ? 5 : 0, () => this.read(this.pickVar((v) => v.ty.k === "num")!)],
      [2, () => this.literal()],
      [tens.length ? 4 : 0, () => this.elementRead()],
      // a tensor of run-time size, read at indices valid at every size (more often inside a loop over it)
      [this.symVars().length ? (this.loops.some((l) => l.sym) ? 6 : 2) : 0, () => this.symElementRead()],
      // a size as a number (`s / x.length`)
      [this.syms.size ? 0.5 : 0, () => {
        const S = r.pick([...this.syms.keys()]);
        return leaf(NUM, this.sizeExpr(S), this.maxSize(S));
      }],
      [this.loops.some((l) => l.vals.length > 0) && !this.noCounterLeaves ? 1 : 0, () => {
        const l = r.pick(this.loops.filter((x) => x.vals.length > 0));
        const ub = Math.max(...l.vals.map(Math.abs));
        return r.chance(0.5) ? leaf(NUM, l.v, ub) : bin("*", this.posLiteral(0.1, 0.5), leaf(NUM, l.v, ub), ub * 0.5);
      }],
      [this.isEntry && this.params.filter((p) => p.ty.k === "num").length < 4 ? 2 : 0, () => {
        const p = this.newParam(NUM);
        return this.read(this.vars().find((v) => v.param === p)!);
      }],
    ])();
  }

  elementRead(): Expr {
    const v = this.pickVar((x) => x.ty.k === "ten")!;
    const shape = shapeOf(v.ty);
    v.reads++;
    const idx = shape.map((d) => `[${this.index(d)}]`).join("");
    return leaf(NUM, `${v.name}${idx}`, v.ub);
  }

  division(d: number): Expr {
    const r = this.r;
    const a = this.scalar(d - 1);
    const kind = r.int(0, 4);
    if (kind === 0) {
      const c = this.posLiteral(1, 4);
      return bin("/", a, c, a.ub / c.ub);
    }
    const b = this.scalar(d - 1);
    const den =
      kind === 1 ? tpl(NUM, [b], 0, (k) => `1 + ${k[0]!.p} * ${k[0]!.p}`, false)
        : kind === 2 ? tpl(NUM, [b], 0, (k) => `2 + Math.cos(${k[0]!.s})`, false)
          : kind === 3 ? tpl(NUM, [b], 0, (k) => `1.5 + Math.tanh(${k[0]!.s})`, false)
            : tpl(NUM, [b], 0, (k) => `1 + Math.exp(${k[0]!.s})`, false);
    // denominators >= 1, 1, 0.5, 1
    return bin("/", a, den, a.ub * 2);
  }

  mathCall(d: number): Expr {
    const r = this.r;
    const a = this.scalar(d - 1);
    const u = a.ub;
    const f = this.flags;
    return r.weighted<() => Expr>([
      [2, () => call(r.pick(["Math.sin", "Math.cos"]), [a], NUM, 1)],
      [2, () => call("Math.tanh", [a], NUM, 1)],
      [1, () => call("Math.atan", [a], NUM, 1.6)],
      [1, () => {
        const b = this.scalar(d - 1);
        // (never both arguments 0: structural zeros -- x - x, zeros([...]) -- would make the
        // derivative 0/0, and 0 * NaN stays NaN even where the value is not used)
        return r.chance(0.5)
          ? tpl(NUM, [a, b], Math.PI, (k) => `Math.atan2(${k[0]!.s}, 1 + ${k[1]!.p} * ${k[1]!.p})`)
          : tpl(NUM, [a, b], 1.6, (k) => `Math.atan2(${k[0]!.s}, 1.5 + Math.cos(${k[1]!.s}))`);
      }],
      [1, () => call("Math.asinh", [a], NUM, Math.asinh(u))],
      [1, () => call(r.pick(["Math.sinh", "Math.cosh"]), [call("Math.tanh", [a], NUM, 1)], NUM, 1.6)],
      [1, () => {
        const fn = r.pick(["Math.asin", "Math.acos", "Math.atanh"]);
        return tpl(NUM, [a], 1.6, (k) => `${fn}(0.9 * Math.tanh(${k[0]!.s}))`);
      }],
      [1, () => tpl(NUM, [a], 0.8, (k) => `Math.tan(0.6 * Math.tanh(${k[0]!.s}))`)],
      [2, () => {
        const c = r.pick([1, 2, 3]);
        return u <= 3 && r.chance(0.5)
          ? call("Math.exp", [a], NUM, Math.exp(u))
          : tpl(NUM, [a], Math.exp(c), (k) => `Math.exp(${c} * Math.tanh(${k[0]!.s}))`);
      }],
      [1, () => tpl(NUM, [a], 1, (k) => `Math.exp(-${k[0]!.p} * ${k[0]!.p})`)],
      [1, () => tpl(NUM, [a], 2.8, (k) => `Math.expm1(Math.tanh(${k[0]!.s}))`)],
      [2, () => {
        const fn = r.pick(["Math.log", "Math.log2", "Math.log10", "log"]);
        return tpl(NUM, [a], Math.log(1 + u * u) * 1.5 + 0.1, (k) => `${fn}(1 + ${k[0]!.p} * ${k[0]!.p})`);
      }],
      [1, () => tpl(NUM, [a], Math.log(1 + u * u) + 0.1, (k) => `Math.log1p(${k[0]!.p} ** 2)`)],
      [1, () => tpl(NUM, [a], Math.log(3), (k) => `Math.log(2 + Math.sin(${k[0]!.s}))`)],
      [2, () => tpl(NUM, [a], Math.sqrt(1 + u * u), (k) => `Math.sqrt(1 + ${k[0]!.p} * ${k[0]!.p})`)],
      [1, () => {
        const b = this.scalar(d - 1);
        return call("Math.hypot", [a, b], NUM, u + b.ub + 0.5, ", 0.5"); // (0.5: never hypot(0, 0))
      }],
      [2, () => {
        const n = r.pick([2, 3]);
        return r.chance(0.5)
          ? tpl(NUM, [a], u ** n, (k) => `${k[0]!.p} ** ${n}`, false)
          : tpl(NUM, [a], u ** n, (k) => `Math.pow(${k[0]!.s}, ${n})`);
      }],
      [1, () => {
        const q = r.pick(["0.5", "1.5", "-0.5", "-2"]);
        return tpl(NUM, [a], (1 + u * u) ** 1.5, (k) => `Math.pow(1 + ${k[0]!.p} * ${k[0]!.p}, ${q})`);
      }],
      [1, () => call("Math.abs", [a], NUM, u)],
      [3, () => {
        const b = this.scalar(d - 1);
        const args = [a, b];
        if (r.chance(0.25)) args.push(this.scalar(d - 1));
        return call(r.pick(["Math.max", "Math.min"]), args, NUM, Math.max(...args.map((x) => x.ub)));
      }],
      [2, () => call(r.pick(["relu", "sigmoid", "tanh"]), [a], NUM, u)],
      [f.customRules ? 2 : 0, () => this.ruleCall(a, d)],
      [1, () => tpl(NUM, [a], Math.exp(1), (k) => `exp(Math.tanh(${k[0]!.s}))`)],
      [f.pieceWiseConstant ? 1 : 0, () => {
        const b = this.scalar(d - 1);
        const fn = r.pick(["Math.floor", "Math.sign", "Math.round", "Math.ceil", "Math.trunc"]);
        return tpl(NUM, [a, b], (u + 1) * b.ub, (k) => `${fn}(${k[0]!.s}) * ${k[1]!.p}`, false);
      }],
      [f.modulo ? 1 : 0, () => {
        // JavaScript's remainder, jumping where a / b is an integer (random inputs lie on no
        // jump; the finite-difference check steps past one as past a kink); b >= 0.3
        const b = r.chance(0.5)
          ? this.posLiteral(0.3, 2)
          : tpl(NUM, [this.scalar(d - 1)], 2.5, (k) => `1.5 + Math.tanh(${k[0]!.s})`, false);
        return bin("%", a, b, Math.min(u, b.ub));
      }],
    ])();
  }

  cond(d: number): Expr {
    const r = this.r;
    const free = this.flags.infeasibleCounterConditions;
    const cmp = (single: boolean): Expr => {
      const loops = this.loops.filter((l) => l.vals.length > 0 && (free || (single && !l.conditioned && l.vals.length >= 2)));
      if (this.flags.modulo && loops.length && r.chance(0.12)) {
        // a parity-like condition on a counter: i % 2 === 0, (i + j) % 3 !== 1
        const l = r.pick(loops);
        const m = r.int(2, 3);
        const rem = r.int(0, m - 1);
        const holds = l.vals.filter((v) => v % m === rem).length;
        if (free || (holds > 0 && holds < l.vals.length)) {
          if (!free) l.conditioned = true;
          const other = free ? this.loops.filter((x) => x !== l && x.vals.length > 0) : [];
          const lhs = other.length && r.chance(0.3) ? `(${l.v} + ${r.pick(other).v})` : l.v;
          return leaf(BOOL, `${lhs} % ${m} ${r.pick(["===", "!=="])} ${rem}`, 0, false);
        }
      }
      if (loops.length && r.chance(0.2)) {
        const l = r.pick(loops);
        // (only > and >=: `a < (b) > (c)` would parse as a call with type arguments)
        const op = r.pick([">", ">="]);
        const counterFirst = r.chance(0.5);
        let v = r.pick(l.vals);
        if (!free) {
          // a condition that holds for some iterations and fails for others
          l.conditioned = true;
          const lo = Math.min(...l.vals);
          const hi = Math.max(...l.vals);
          const strictBelow = counterFirst === (op === ">"); // i > v or v >= i: v in [lo, hi)
          v = strictBelow ? r.int(lo, hi - 1) : r.int(lo + 1, hi);
        }
        return counterFirst ? leaf(BOOL, `${l.v} ${op} ${v}`, 0, false) : leaf(BOOL, `${v} ${op} ${l.v}`, 0, false);
      }
      // (with infeasibleCounterConditions off, counters appear in conditions only as above)
      const was = this.noCounterLeaves;
      this.noCounterLeaves = !free;
      try {
        const a = this.scalar(Math.max(0, d));
        const b = r.chance(0.4) ? this.literal() : this.scalar(Math.max(0, d - 1));
        const op = r.pick([">", ">="]);
        return r.chance(0.5) ? bin(op, a, b, 0, BOOL) : bin(op, b, a, 0, BOOL);
      } finally {
        this.noCounterLeaves = was;
      }
    };
    const k = r.int(0, 9);
    if (k < 6 || d <= 0) return cmp(true);
    if (k < 8) return bin(r.pick(["&&", "||"]), cmp(false), cmp(false), 0, BOOL);
    const c = cmp(false);
    return tpl(BOOL, [c], 0, (kk) => `!(${kk[0]!.s})`, false);
  }

  reduction(d: number): Expr {
    const r = this.r;
    const f = this.flags;
    return r.weighted<() => Expr>([
      [4, () => {
        const t = this.tensorAny(d - 1);
        const n = sizeOf(shapeOf(t.ty));
        return r.chance(0.5) ? call("sum", [t], NUM, t.ub * n) : call("mean", [t], NUM, t.ub);
      }],
      [3, () => {
        const a = this.tensorAny(d - 1);
        const b = this.tensor(shapeOf(a.ty), d - 1);
        return call("dot", [a, b], NUM, a.ub * b.ub * sizeOf(shapeOf(a.ty)));
      }],
      [f.crossEntropy ? 2 : 0, () => this.crossEntropy(d)],
      [this.symVars().length ? 4 : 0, () => this.symReduction(d)],
      [f.softmax ? 1 : 0, () => {
        const k = r.int(2, 5);
        const z = this.tensor([k], d - 1);
        const fn = r.pick(["softmax", "logSoftmax"]);
        const i = this.index(k);
        return tpl(NUM, [z], fn === "softmax" ? 1 : 2 * z.ub + Math.log(k), (kk) => `${fn}(${kk[0]!.s})[${i}]`);
      }],
      [2, () => {
        const v = this.pickVar((x) => x.ty.k === "ten" && x.ty.shape.length >= 1);
        const t = v ? this.read(v) : this.tensorAny(d - 1);
        const shape = shapeOf(t.ty);
        const idx = shape.map((dim) => `[${this.index(dim)}]`).join("");
        return tpl(NUM, [t], t.ub, (k) => `${k[0]!.p}${idx}`);
      }],
    ])();
  }

  crossEntropy(d: number): Expr {
    const r = this.r;
    const k = r.int(2, 5);
    if (this.isEntry && this.flags.batchedCrossEntropy && (this.flags.labelParamInLoops || this.loops.length === 0) && r.chance(0.3)) {
      const n = r.int(2, 3);
      const z = this.tensor([n, k], d - 1);
      const lbl = this.newParam(ten([n]), "labels", k);
      return call("crossEntropy", [z, leaf(INT, lbl.name, k)], NUM, 2 * z.ub + Math.log(k));
    }
    const z = this.tensor([k], d - 1);
    const paramOk = this.isEntry && (this.flags.labelParamInLoops || this.loops.length === 0);
    const label = paramOk && r.chance(0.6) ? this.newParam(NUM, "label", k).name : String(r.int(0, k - 1));
    return call("crossEntropy", [z, leaf(INT, label, k)], NUM, 2 * z.ub + Math.log(k));
  }

  /**
   * A call of a helper with its own derivative rules, right ones: a rule of numbers (called
   * as a function in the generated code), one with a loop, one that forward mode leaves to
   * the body (no @jvp) and one returning a tuple (inlined).
   */
  ruleCall(a: Expr, d: number): Expr {
    const kind = this.r.pick(["softplus", "xtanh", "waves", "pair"] as const);
    const name = `r${this.tag}${kind}`;
    const texts: Record<typeof kind, string> = {
      softplus: `/** @vjp ${name}Vjp
 * @jvp ${name}Jvp */
function ${name}(x: number): number {
  return Math.log(1 + Math.exp(x));
}
function ${name}Vjp(x: number, y: number, dy: number): number {
  return dy / (1 + Math.exp(-x));
}
function ${name}Jvp(x: number, y: number, dx: number): number {
  return dx / (1 + Math.exp(-x));
}`,
      xtanh: `/** @vjp ${name}Vjp */
function ${name}(x: number): number {
  return x * Math.tanh(x);
}
function ${name}Vjp(x: number, y: number, dy: number): number {
  const t = Math.tanh(x);
  return dy * (t + x * (1 - t * t));
}`,
      waves: `/** @vjp ${name}Vjp
 * @jvp ${name}Jvp */
function ${name}(x: number): number {
  let s = 0;
  for (let k = 1; k <= 3; k++) s += Math.sin(k * x) / k;
  return s;
}
function ${name}Vjp(x: number, y: number, dy: number): number {
  let s = 0;
  for (let k = 1; k <= 3; k++) s += Math.cos(k * x);
  return dy * s;
}
function ${name}Jvp(x: number, y: number, dx: number): number {
  let s = 0;
  for (let k = 1; k <= 3; k++) s += Math.cos(k * x) * dx;
  return s;
}`,
      pair: `/** @vjp ${name}Vjp */
function ${name}(a: number, b: number): number {
  return a * Math.cos(b);
}
function ${name}Vjp(a: number, b: number, y: number, dy: number): [number, number] {
  return [dy * Math.cos(b), -dy * a * Math.sin(b)];
}`,
    };
    if (!this.rules.has(kind)) this.rules.set(kind, { name, text: texts[kind] });
    // (softplus: exp(-x) must not overflow, so its argument is kept within +-20)
    const x = kind === "softplus" && a.ub > 20 ? tpl(NUM, [a], 20, (k) => `20 * Math.tanh(${k[0]!.s})`) : a;
    if (kind === "pair") {
      const b = this.scalar(d - 1);
      return { ...call(name, [x, b], NUM, x.ub), tag: "helper" };
    }
    const ub = kind === "softplus" ? x.ub + 0.7 : kind === "xtanh" ? x.ub : 1.9;
    return { ...call(name, [x], NUM, ub), tag: "helper" };
  }

  helperCall(h: HelperSig, d: number): Expr {
    const args = h.params.map((p) => (p.ty.k === "num" ? this.scalar(d - 1) : this.tensor(shapeOf(p.ty), d - 1, true)));
    return { ...call(h.name, args, h.ret, h.ub), tag: "helper" };
  }

  // ------------------------------------------------------------------ tensor expressions
  randomShape(): Shape {
    const r = this.r;
    const k = r.int(0, 9);
    if (k < 4) return [r.int(2, 6)];
    if (k < 7) return [r.int(2, 4), r.int(2, 5)];
    if (k < 9) return [r.int(1, 3), r.int(2, 5), r.int(2, 5)];
    return [2, r.int(1, 2), r.int(2, 4), r.int(2, 4)];
  }

  tensorAny(d: number): Expr {
    const shapes = this.vars().filter((v) => v.ty.k === "ten").map((v) => shapeOf(v.ty));
    const shape = shapes.length && this.r.chance(0.5) ? this.r.pick(shapes) : this.randomShape();
    return this.tensor(shape, d);
  }

  /**
   * A tensor expression of the given shape. `alias`: the value may end up held by a
   * variable (a declaration, an assignment, a branch of ?:, a helper's argument), so a
   * variable read as a whole at the top is no longer written into afterwards (that would be
   * ADG1016). Reads consumed by an operation (sum(y), relu(y)) keep y writable, so that
   * "use a tensor, then write into it" is exercised.
   */
  tensor(shape: Shape, d: number, alias = false): Expr {
    this.budget--;
    if (d <= 0 || this.budget <= 0 || this.r.chance(0.2)) return this.tensorLeaf(shape, alias);
    const r = this.r;
    const f = this.flags;
    const ty = ten(shape);
    const rank = shape.length;
    const tenHelpers = this.helpers.filter((h) => h.ret.k === "ten" && sameTy(h.ret, ty));
    const pick = r.weighted<() => Expr | null>([
      [5, () => {
        const a = this.tensor(shape, d - 1);
        return r.weighted<() => Expr>([
          [2, () => call("relu", [a], ty, a.ub)],
          [2, () => call("sigmoid", [a], ty, 1)],
          [2, () => call("tanh", [a], ty, 1)],
          [1, () => (a.ub <= 3 ? call("exp", [a], ty, Math.exp(a.ub)) : call("exp", [call("tanh", [a], ty, 1)], ty, Math.E))],
          [1, () => call("log", [call("sigmoid", [a], ty, 1)], ty, a.ub + 0.7)],
          [1, () => tpl(ty, [a], Math.log(1 + a.ub * a.ub) + 0.1, (k) => `log(add(mul(${k[0]!.s}, ${k[0]!.s}), 1))`)],
        ])();
      }],
      [5, () => {
        const a = this.tensor(shape, d - 1);
        const op = r.pick(["add", "sub", "mul", "add", "div"]);
        if (op === "div") {
          const s = this.scalar(d - 1);
          const den = tpl(NUM, [s], 0, (k) => `1 + ${k[0]!.p} * ${k[0]!.p}`, false);
          return r.chance(0.5) ? call("div", [a, den], ty, a.ub) : call("div", [a, this.posLiteral(1, 4)], ty, a.ub);
        }
        if (r.chance(0.35)) {
          const s = this.scalar(d - 1);
          const ub = op === "mul" ? a.ub * s.ub : a.ub + s.ub;
          return r.chance(0.7) ? call(op, [a, s], ty, ub) : call(op, [s, a], ty, ub);
        }
        const b = this.tensor(shape, d - 1);
        return call(op, [a, b], ty, op === "mul" ? a.ub * b.ub : a.ub + b.ub);
      }],
      [f.softmax && rank <= 2 ? 2 : 0, () => {
        const a = this.tensor(shape, d - 1);
        return r.chance(0.5) ? call("softmax", [a], ty, 1) : call("logSoftmax", [a], ty, 2 * a.ub + Math.log(shape[rank - 1]!));
      }],
      [f.linear && rank <= 2 ? 4 : 0, () => this.linear(shape, d)],
      [f.conv2d && (rank === 3 || rank === 4) ? 4 : 0, () => this.conv(shape, d)],
      [f.pooling && rank >= 2 && rank <= 4 ? 3 : 0, () => this.pool(shape, d)],
      [f.flatten && rank <= 2 ? 2 : 0, () => this.flatten(shape, d)],
      [rank <= 3 ? 3 : 0, () => this.partialIndex(shape, d, alias)],
      [1, () => {
        // operations that leave the values unchanged (a simplifier might drop them)
        const a = this.tensor(shape, d - 1);
        const k = r.int(0, 5);
        if (k === 5 && rank === 1) return call("flatten", [a], ty, a.ub);
        const [op, c, first] = ([["mul", 1, false], ["add", 0, false], ["sub", 0, false], ["div", 1, false], ["add", 0, true], ["mul", 1, true]] as const)[k % 6]!;
        return call(op, first ? [lit(c), a] : [a, lit(c)], ty, a.ub);
      }],
      [f.ternaryTensors ? 1 : 0, () => {
        const c = this.cond(d - 1);
        const a = this.tensor(shape, d - 1, alias);
        const b = this.tensor(shape, d - 1, alias);
        return tpl(ty, [c, a, b], Math.max(a.ub, b.ub), (k) => `${k[0]!.p} ? ${k[1]!.s} : ${k[2]!.s}`, false);
      }],
      [tenHelpers.length ? 3 : 0, () => this.helperCall(r.pick(tenHelpers), d)],
    ]);
    const e = pick() ?? this.tensorLeaf(shape, alias);
    return this.squash(e);
  }

  tensorLeaf(shape: Shape, alias = false): Expr {
    const r = this.r;
    const ty = ten(shape);
    // An aliasing read of y (const m = y) ends element writes into y; inside a loop deeper
    // than y's declaration a later iteration would write after the read, so none there.
    const ok = (v: Var): boolean => !(alias && v.writable && this.loops.length > v.loopDepth);
    const same = this.vars().filter((v) => sameTy(v.ty, ty) && ok(v));
    const parents = this.vars().filter((v) => v.ty.k === "ten" && v.ty.shape.length === shape.length + 1 &&
      shape.every((d, i) => d === shapeOf(v.ty)[i + 1]) && ok(v));
    return r.weighted<() => Expr>([
      [same.length ? 6 : 0, () => {
        const v = this.pickVar((x) => sameTy(x.ty, ty) && ok(x))!;
        if (alias) v.writable = false;
        return this.read(v);
      }],
      [this.canAddParam(shape) ? 4 : 0, () => {
        const p = this.newParam(ty);
        return this.read(this.vars().find((v) => v.param === p)!);
      }],
      [parents.length ? 3 : 0, () => {
        const v = r.pick(parents);
        if (alias) v.writable = false;
        v.reads++;
        return leaf(ty, `${v.name}[${this.index(shapeOf(v.ty)[0]!)}]`, v.ub);
      }],
      [1, () => {
        const s = this.scalarLeaf();
        return call("add", [leaf(ty, `zeros([${shape.join(", ")}])`, 0), s], ty, s.ub);
      }],
    ])();
  }

  weight(shape: Shape, d: number): Expr {
    // weights: mostly parameters of the entry point, else any tensor expression
    if (this.canAddParam(shape) && this.r.chance(0.7)) {
      const same = this.vars().filter((v) => v.param && sameTy(v.ty, ten(shape)));
      if (same.length && this.r.chance(0.3)) return this.read(this.r.pick(same));
      const p = this.newParam(ten(shape));
      return this.read(this.vars().find((v) => v.param === p)!);
    }
    return this.tensor(shape, d - 1);
  }

  linear(shape: Shape, d: number): Expr {
    const r = this.r;
    const out = shape[shape.length - 1]!;
    const inp = r.int(2, 6);
    const xShape = shape.length === 1 ? [inp] : [shape[0]!, inp];
    const x = this.tensor(xShape, d - 1);
    const w = this.weight([out, inp], d);
    const args = [x, w];
    if (r.chance(0.6)) args.push(this.weight([out], d));
    const ub = inp * x.ub * w.ub + (args[2]?.ub ?? 0);
    return call("linear", args, ten(shape), ub);
  }

  conv(shape: Shape, d: number): Expr {
    const r = this.r;
    const [O, OH, OW] = shape.slice(-3) as [number, number, number];
    if (O > 4 || OH > 6 || OW > 6) return this.tensorLeaf(shape);
    for (let attempt = 0; attempt < 10; attempt++) {
      const C = r.int(1, 3);
      const KH = r.int(1, 3);
      const KW = r.chance(0.7) ? KH : r.int(1, 3);
      const SH = r.int(1, 2);
      const SW = r.chance(0.7) ? SH : r.int(1, 2);
      const PH = r.int(0, Math.min(2, KH));
      const PW = r.chance(0.7) ? Math.min(PH, KW) : r.int(0, Math.min(2, KW));
      const H = (OH - 1) * SH + KH - 2 * PH + r.int(0, SH - 1);
      const W = (OW - 1) * SW + KW - 2 * PW + r.int(0, SW - 1);
      if (H < 1 || W < 1 || H > 8 || W > 8) continue;
      // check the output size as PyTorch computes it
      if (Math.floor((H + 2 * PH - KH) / SH) + 1 !== OH || Math.floor((W + 2 * PW - KW) / SW) + 1 !== OW) continue;
      const xShape = shape.length === 4 ? [shape[0]!, C, H, W] : [C, H, W];
      if (sizeOf(xShape) > 64) continue;
      const x = this.tensor(xShape, d - 1);
      const w = this.weight([O, C, KH, KW], d);
      const hasBias = r.chance(0.6);
      const args = [x, w];
      if (hasBias) args.push(this.weight([O], d));
      const opts: string[] = [];
      const pairOrOne = (a: number, b: number): string => (a === b ? String(a) : `[${a}, ${b}]`);
      if (SH !== 1 || SW !== 1 || r.chance(0.3)) opts.push(`stride: ${pairOrOne(SH, SW)}`);
      if (PH !== 0 || PW !== 0 || r.chance(0.3)) opts.push(`padding: ${pairOrOne(PH, PW)}`);
      const extra = opts.length ? `${hasBias ? "" : ", undefined"}, { ${opts.join(", ")} }` : "";
      const ub = C * KH * KW * x.ub * w.ub + (args[2]?.ub ?? 0);
      return call("conv2d", args, ten(shape), ub, extra);
    }
    return this.tensorLeaf(shape);
  }

  pool(shape: Shape, d: number): Expr {
    const r = this.r;
    const rank = shape.length;
    const [OH, OW] = shape.slice(-2) as [number, number];
    for (let attempt = 0; attempt < 10; attempt++) {
      const KH = r.int(1, 3);
      const KW = r.chance(0.7) ? KH : r.int(1, 3);
      const explicitStride = r.chance(0.6);
      const SH = explicitStride ? r.int(1, 3) : KH;
      const SW = explicitStride ? (r.chance(0.7) ? SH : r.int(1, 3)) : KW;
      const H = (OH - 1) * SH + KH + r.int(0, SH - 1);
      const W = (OW - 1) * SW + KW + r.int(0, SW - 1);
      if (H > 9 || W > 9) continue;
      const xShape = [...shape.slice(0, rank - 2), H, W];
      if (sizeOf(xShape) > 72) continue;
      const x = this.tensor(xShape, d - 1);
      const pairOrOne = (a: number, b: number): string => (a === b ? String(a) : `[${a}, ${b}]`);
      const opts = [`size: ${pairOrOne(KH, KW)}`];
      if (explicitStride) opts.push(`stride: ${pairOrOne(SH, SW)}`);
      return call(r.pick(["maxpool2d", "avgpool2d"]), [x], ten(shape), x.ub, `, { ${opts.join(", ")} }`);
    }
    return this.tensorLeaf(shape);
  }

  flatten(shape: Shape, d: number): Expr {
    const r = this.r;
    const last = shape[shape.length - 1]!;
    const divisors = [];
    for (let a = 1; a <= last; a++) if (last % a === 0) divisors.push(a);
    const a = r.pick(divisors);
    let tail = [a, last / a];
    if (r.chance(0.3)) {
      const rest = last / a;
      const bs = divisors.filter((x) => rest % x === 0);
      const b = r.pick(bs);
      tail = [a, b, rest / b];
    }
    const src = [...shape.slice(0, -1), ...tail];
    if (src.length > 4) return this.tensorLeaf(shape);
    const x = this.tensor(src, d - 1);
    const start = shape.length - 1;
    const startText = start === 0 ? (r.chance(0.5) ? "" : ", 0") : r.chance(0.3) ? `, ${start - src.length}` : `, ${start}`;
    return call("flatten", [x], ten(shape), x.ub, startText);
  }

  partialIndex(shape: Shape, d: number, alias: boolean): Expr {
    const r = this.r;
    const n = r.int(2, 4);
    const src = [n, ...shape];
    if (sizeOf(src) > 64) return this.tensorLeaf(shape, alias);
    const t = this.tensor(src, d - 1, alias);
    const i = this.index(n);
    return tpl(ten(shape), [t], t.ub, (k) => `${k[0]!.p}[${i}]`);
  }

  // ------------------------------------------------------------------ statements
  stmts(n: number, canReturn: boolean): Stmt[] {
    const out: Stmt[] = [];
    for (let k = 0; k < n && this.budget > 0; k++) out.push(...this.stmt(canReturn));
    return out;
  }

  stmt(canReturn: boolean): Stmt[] {
    const r = this.r;
    const f = this.flags;
    const deep = this.stmtDepth >= 3;
    const lets = this.vars().filter((v) => v.mutable && v.ty.k === "num");
    const tenLets = this.vars().filter((v) => v.mutable && v.ty.k === "ten");
    const writable = this.vars().filter((v) => v.writable);
    this.stmtDepth++;
    try {
      return r.weighted<() => Stmt[]>([
        [5, () => this.declScalar()],
        [3, () => this.declTensor()],
        [lets.length ? 4 : 0, () => this.assignScalar()],
        [lets.length >= 2 && this.flags.scalarCopies ? 1 : 0, () => this.rotate()],
        [tenLets.length ? 1 : 0, () => {
          const v = this.pickVar((x) => x.mutable && x.ty.k === "ten")!;
          let e = this.within(this.tensor(shapeOf(v.ty), 2, true), Math.max(v.ub, 1));
          if (!this.flags.tensorVarAssignInLoops && this.loops.length > v.loopDepth) e = call("add", [e, lit(0)], e.ty, e.ub);
          v.ub = Math.max(v.ub, e.ub);
          v.writable = false;
          return [{ k: "assign", target: v.name, op: "=", e }];
        }],
        [f.elementWrites && writable.length ? 3 : 0, () => this.storeElement()],
        [deep ? 0 : 3, () => this.ifElse(canReturn)],
        [f.earlyReturn && canReturn && !deep && this.earlyReturns < 2 ? 2 : 0, () => this.earlyReturn()],
        [f.loops && !deep && this.loops.length < 3 ? 4 : 0, () => this.loopScalar()],
        [f.loops && f.elementWrites && !deep && this.loops.length < 2 ? 3 : 0, () => this.buildTensor()],
        [this.syms.size && f.loops && f.elementWrites && !deep && this.loops.length < 2 ? 4 : 0, () => this.buildSym()],
        [f.loops && f.loopCarriedTensors && !deep && this.loops.length < 1 ? 2 : 0, () => this.recurrentCell()],
        [f.loops && f.handLayers && f.elementWrites && !deep && this.loops.length < 1 ? 2 : 0, () => this.handLayer()],
      ])();
    } finally {
      this.stmtDepth--;
    }
  }

  /**
   * With scalarCopies off, `v = e` where e may be a copy of a variable's value (a variable,
   * a ?: -- both sides may be one variable --, a helper call -- it may return a parameter)
   * becomes `v = e + 0.5`.
   */
  noCopy(e: Expr): Expr {
    if (this.flags.scalarCopies || !(e.tag !== undefined || /^[A-Za-z_]\w*$/.test(printExpr(e)))) return e;
    return bin("+", e, lit(0.5), e.ub + 0.5);
  }

  declScalar(): Stmt[] {
    const e = this.noCopy(this.scalar(this.r.int(1, 3)));
    const kw = this.r.chance(0.6) ? "let" : "const";
    const v = this.declare({ name: this.fresh("v"), ty: NUM, mutable: kw === "let", ub: e.ub, writable: false });
    return [{ k: "decl", kw, name: v.name, init: e }];
  }

  declTensor(): Stmt[] {
    const r = this.r;
    const e = r.chance(0.5) && this.vars().some((v) => v.ty.k === "ten")
      ? this.tensor(shapeOf(this.pickVar((v) => v.ty.k === "ten")!.ty), r.int(1, 3), true)
      : this.tensor(this.randomShape(), r.int(1, 3), true);
    const kw = r.chance(0.3) ? "let" : "const";
    const v = this.declare({ name: this.fresh("m"), ty: e.ty, mutable: kw === "let", ub: e.ub, writable: false });
    return [{ k: "decl", kw, name: v.name, init: e }];
  }

  /** An update of an outer `let` number; in a loop, the variable's bound stays invariant. */
  assignScalar(): Stmt[] {
    const r = this.r;
    const v = this.pickVar((x) => x.mutable && x.ty.k === "num")!;
    const trips = this.trips(v);
    const op = r.pick<AssignOp>(["=", "+=", "-=", "*=", "+="]);
    if (op === "*=") {
      if (r.chance(0.3)) {
        // x /= d with d >= 1
        const b = this.scalar(1);
        return [{ k: "assign", target: v.name, op: "/=", e: tpl(NUM, [b], 0, (k) => `1 + ${k[0]!.p} * ${k[0]!.p}`, false) }];
      }
      const e = this.bounded(2);
      return [{ k: "assign", target: v.name, op, e }];
    }
    if (op === "=") {
      // mix the old value in sometimes (a recurrence); keep |new| <= max(old bound, 1)
      const keep = Math.max(v.ub, 1);
      let e = this.scalar(r.int(1, 3));
      if (r.chance(0.5)) {
        const old = leaf(NUM, v.name, v.ub);
        e = r.chance(0.5)
          ? call("Math.tanh", [bin("+", bin("*", old, this.bounded(1), v.ub), e, v.ub + e.ub)], NUM, 1)
          : bin("+", bin("*", old, this.bounded(1), v.ub), e, v.ub + e.ub);
      }
      if (trips > 1) e = this.within(e, keep);
      e = this.noCopy(e);
      v.ub = Math.max(v.ub, e.ub);
      return [{ k: "assign", target: v.name, op, e }];
    }
    const e = this.without(v, () => this.scalar(r.int(1, 2)));
    v.ub += trips * e.ub;
    return [{ k: "assign", target: v.name, op, e }];
  }

  /** Rotates two `let` numbers through a temporary: t = a; a = f(a, b); b = t. */
  rotate(): Stmt[] {
    const a = this.pickVar((x) => x.mutable && x.ty.k === "num")!;
    const b = this.pickVar((x) => x.mutable && x.ty.k === "num" && x !== a);
    if (!b) return this.assignScalar();
    const t = this.fresh("tmp");
    const keep = Math.max(a.ub, b.ub, 1);
    const e = this.within(bin(this.r.pick(["+", "-", "*"]), leaf(NUM, b.name, b.ub), this.bounded(1), b.ub + 1), keep);
    a.ub = keep;
    b.ub = keep;
    return [
      { k: "decl", kw: "const", name: t, init: leaf(NUM, a.name, keep) },
      { k: "assign", target: a.name, op: "=", e },
      { k: "assign", target: b.name, op: "=", e: leaf(NUM, t, keep) },
    ];
  }

  /** A number with magnitude <= 1. */
  bounded(d: number): Expr {
    const a = this.scalar(d);
    const fn = this.r.pick(["Math.tanh", "Math.cos", "Math.sin", "sigmoid", "tanh"]);
    return call(fn, [a], NUM, 1);
  }

  storeElement(): Stmt[] {
    const r = this.r;
    const v = this.pickVar((x) => x.writable)!;
    const shape = shapeOf(v.ty);
    const idx = shape.map((d) => `[${this.index(d)}]`).join("");
    const op = r.pick<AssignOp>(["=", "+=", "-=", "*=", "+="]);
    const trips = this.trips(v);
    if (op === "*=") return [{ k: "assign", target: v.name + idx, op, e: this.bounded(1) }];
    let e = op === "=" ? this.scalar(r.int(1, 3)) : this.without(v, () => this.scalar(r.int(1, 3)));
    if (op === "=" && trips > 1) e = this.within(e, Math.max(v.ub, 1));
    v.ub = op === "=" ? Math.max(v.ub, e.ub) : v.ub + trips * e.ub;
    return [{ k: "assign", target: v.name + idx, op, e }];
  }

  ifElse(canReturn: boolean): Stmt[] {
    const r = this.r;
    const cond = this.cond(r.int(1, 2));
    // early returns may sit in nested branches too (never inside a loop)
    const inner = canReturn && this.loops.length === 0;
    if (r.chance(0.25)) {
      // let v: number; if (c) { ...; v = a; } else { ...; v = b; }
      const name = this.fresh("v");
      const branch = (): Stmt[] => this.withScope(() => {
        const pre = this.stmts(r.int(0, 2), false);
        return [...pre, { k: "assign", target: name, op: "=", e: this.noCopy(this.scalar(r.int(1, 2))) } as Stmt];
      });
      const then = branch();
      let els = branch();
      const last = (b: Stmt[]): Expr => (b[b.length - 1] as { e: Expr }).e;
      if (!this.flags.sameValueInBothBranches && printExpr(last(then)) === printExpr(last(els))) {
        const e = last(els);
        els = [...els.slice(0, -1), { k: "assign", target: name, op: "=", e: bin("+", e, lit(0.5), e.ub + 0.5) }];
      }
      const ub = Math.max(...[...then, ...els].filter((x) => x.k === "assign" && x.target === name).map((x) => (x as { e: Expr }).e.ub));
      this.declare({ name, ty: NUM, mutable: true, ub, writable: false });
      return [{ k: "declNoInit", name }, { k: "if", cond, then, els }];
    }
    const then = this.withScope(() => this.stmts(r.int(1, 3), inner));
    const els = r.chance(0.6) ? this.withScope(() => this.stmts(r.int(1, 3), inner)) : null;
    return [{ k: "if", cond, then, els }];
  }

  returnExpr(): Expr {
    if (this.retTy.k === "ten" && this.retTy.dims) return this.symTensor(this.retTy.dims, 2);
    return this.retTy.k === "num" ? this.scalar(3) : this.tensor(shapeOf(this.retTy), 2, true);
  }

  earlyReturn(): Stmt[] {
    const r = this.r;
    this.earlyReturns++;
    const cond = this.cond(r.int(1, 2));
    const body = this.withScope(() => {
      const pre = this.stmts(r.int(0, 1), false);
      return [...pre, { k: "return", e: this.returnExpr() } as Stmt];
    });
    const els = r.chance(0.3) ? this.withScope(() => this.stmts(r.int(1, 2), false)) : null;
    return [{ k: "if", cond, then: body, els }];
  }

  /** A for loop over values; `body` is generated with the counter in scope. */
  loop(count: number, body: (l: Loop) => Stmt[], over?: Var): Stmt {
    const r = this.r;
    const v = `i${this.loopCounter++}`;
    let start = 0;
    let step = 1;
    let inclusive = false;
    let lengthOf: string | undefined;
    const k = r.int(0, 9);
    if (over && k < 3) lengthOf = over.name;
    else if (k < 5) {
      /* 0 .. count-1 */
    } else if (k < 7) {
      start = count - 1;
      step = -1;
    } else if (k < 8 && count >= 2) {
      step = r.chance(0.7) ? 2 : -2;
      if (step < 0) start = count - 1;
      count = Math.ceil(count / 2);
    } else inclusive = true;
    if (lengthOf) {
      start = 0;
      step = 1;
      inclusive = false;
    }
    const boundConst = !lengthOf && start === 0 && step === 1 && !inclusive && r.chance(0.3) ? this.moduleConst(count) : undefined;
    const vals = Array.from({ length: count }, (_, j) => start + j * step);
    const l: Loop = { v, vals };
    this.loops.push(l);
    const stmts = this.withScope(() => body(l));
    this.loops.pop();
    return { k: "for", v, start, step, count, inclusive, ...(lengthOf ? { lengthOf } : {}), ...(boundConst ? { boundConst } : {}), body: stmts };
  }

  loopScalar(): Stmt[] {
    const r = this.r;
    const count = r.int(2, 5);
    const init = r.chance(0.5) ? this.literal() : this.noCopy(this.scalar(1));
    const s = this.declare({ name: this.fresh("s"), ty: NUM, mutable: true, ub: init.ub, writable: false });
    const decl: Stmt = { k: "decl", kw: "let", name: s.name, init };
    const tens = this.vars().filter((v) => v.ty.k === "ten" && v.ty.shape[0]! >= 2);
    const over = tens.length && r.chance(0.5) ? r.pick(tens) : undefined;
    const n = over ? shapeOf(over.ty)[0]! : count;
    // a loop over a run-time size or to an integer parameter, in programs that have them
    const range = r.weighted<((v: string) => Range) | undefined>([
      [5, undefined],
      [this.syms.size ? 5 : 0, this.syms.size ? this.symRange(r.pick([...this.syms.keys()])) : undefined],
      [this.ints.length ? 2 : 0, this.ints.length ? this.intRange() : undefined],
    ]);
    const loopOf = (body: (l: Loop) => Stmt[]): Stmt => (range ? this.loopRange(range, body) : this.loop(n, body, over));
    const loop = loopOf((l) => {
      const pre = this.stmts(r.int(0, 2), false);
      const kind = r.int(0, 6);
      const sRef = (): Expr => leaf(NUM, s.name, s.ub);
      const trips = this.trips(s);
      let upd: Stmt[];
      if (kind === 0) {
        const e = this.without(s, () => this.scalar(2));
        upd = [{ k: "assign", target: s.name, op: "+=", e }];
        s.ub += trips * e.ub;
      } else if (kind === 1) {
        upd = [{ k: "assign", target: s.name, op: "*=", e: this.bounded(2) }];
      } else if (kind === 2) {
        // Horner: s = s * c + e with |c| <= 1
        const e = this.within(this.scalar(2), 2);
        upd = [{ k: "assign", target: s.name, op: "=", e: bin("+", bin("*", sRef(), this.bounded(1), s.ub), e, s.ub + 2) }];
        s.ub += trips * 2;
      } else if (kind === 3) {
        const e = this.scalar(2);
        upd = [{ k: "assign", target: s.name, op: "=", e: call("Math.tanh", [bin("+", bin("*", sRef(), this.bounded(1), s.ub), e, 1)], NUM, 1) }];
        s.ub = Math.max(s.ub, 1);
      } else if (kind === 4) {
        const e = this.within(this.scalar(2), Math.max(s.ub, 1));
        upd = [{ k: "assign", target: s.name, op: "=", e: call(r.pick(["Math.max", "Math.min"]), [sRef(), e], NUM, Math.max(s.ub, e.ub)) }];
      } else if (kind === 5) {
        const cond = this.cond(1);
        const a = this.without(s, () => this.scalar(2));
        const b = this.bounded(1);
        upd = [{
          k: "if", cond,
          then: [{ k: "assign", target: s.name, op: "+=", e: a }],
          els: r.chance(0.7) ? [{ k: "assign", target: s.name, op: "*=", e: b }] : null,
        }];
        s.ub += trips * a.ub;
      } else {
        // a nested loop accumulating into s: triangular (j < i, j <= i, j > i) or of its own count
        const body = (): Stmt[] => {
          const e = this.without(s, () => this.scalar(2));
          s.ub += this.trips(s) * e.ub;
          return [{ k: "assign", target: s.name, op: r.pick<AssignOp>(["+=", "-="]), e }];
        };
        const tri = r.chance(l.sym ? 0.7 : 0.35) ? this.triRange(l) : undefined;
        upd = [tri ? this.loopRange(tri, body) : this.loop(r.int(2, 3), body)];
      }
      const post = this.stmts(r.int(0, 1), false);
      return [...pre, ...upd, ...post];
    });
    return [decl, loop];
  }

  buildTensor(): Stmt[] {
    const r = this.r;
    const shape = r.chance(0.5) ? [r.int(2, 5)] : [r.int(2, 3), r.int(2, 4)];
    const y = this.declare({ name: this.fresh("y"), ty: ten(shape), mutable: false, ub: 0, writable: true });
    const decl: Stmt = { k: "decl", kw: "const", name: y.name, init: leaf(ten(shape), `zeros([${shape.join(", ")}])`, 0) };
    // loops over every dimension; the innermost body writes y[...] (maybe via a reduction loop)
    const build = (dim: number, idx: string[]): Stmt => this.loop(shape[dim]!, (l) => {
      const here = [...idx, l.v];
      if (dim + 1 < shape.length) return [build(dim + 1, here)];
      const target = `${y.name}${here.map((i) => `[${i}]`).join("")}`;
      if (r.chance(0.35)) {
        // y[i] += a[i][k] * b[k] over k: a matrix product written out (or over a triangle, k < i)
        const body = (): Stmt[] => {
          const e = this.without(y, () => this.scalar(2));
          y.ub += this.trips(y) * e.ub;
          return [{ k: "assign", target, op: "+=", e }];
        };
        const tri = r.chance(0.4) ? this.triRange(l) : undefined;
        return [tri ? this.loopRange(tri, body) : this.loop(r.int(2, 4), body)];
      }
      const pre = this.stmts(r.int(0, 1), false);
      const e = this.scalar(r.int(1, 3));
      y.ub = Math.max(y.ub, e.ub);
      return [...pre, { k: "assign", target, op: r.pick<AssignOp>(["=", "=", "+="]), e }];
    });
    return [decl, build(0, [])];
  }

  /** A named tensor of a shape for loops to index: a variable, a new parameter, or a new const. */
  namedTensor(shape: Shape): { name: string; ub: number; pre: Stmt[] } {
    const v = this.pickVar((x) => sameTy(x.ty, ten(shape)));
    if (v && this.r.chance(0.6)) {
      v.reads++;
      return { name: v.name, ub: v.ub, pre: [] };
    }
    if (this.canAddParam(shape)) {
      const p = this.newParam(ten(shape));
      this.vars().find((x) => x.param === p)!.reads++;
      return { name: p.name, ub: 1, pre: [] };
    }
    const e = this.tensor(shape, 2, true);
    const w = this.declare({ name: this.fresh("m"), ty: ten(shape), mutable: false, ub: e.ub, writable: false, reads: 1 });
    return { name: w.name, ub: e.ub, pre: [{ k: "decl", kw: "const", name: w.name, init: e }] };
  }

  /** A layer written out as loops (the way a user would, instead of calling the built-in). */
  handLayer(): Stmt[] {
    const r = this.r;
    const kind = r.int(0, 3);
    const el = (text: string, ub: number): Expr => leaf(NUM, text, ub);
    const idx = (a: string, s: number, b: string): string => (s === 1 ? `${a} + ${b}` : `${a} * ${s} + ${b}`);
    if (kind === 0) {
      // y = W x + b by loops
      const out = r.int(2, 4);
      const inp = r.int(2, 5);
      const x = this.namedTensor([inp]);
      const w = this.namedTensor([out, inp]);
      const b = r.chance(0.5) ? this.namedTensor([out]) : undefined;
      const y = this.declare({ name: this.fresh("y"), ty: ten([out]), mutable: false, ub: inp * x.ub * w.ub + (b?.ub ?? 0), writable: true, reads: 0 });
      const loop = this.loop(out, (lo) => {
        const inner = this.loop(inp, (li) => [
          { k: "assign", target: `${y.name}[${lo.v}]`, op: "+=", e: bin("*", el(`${w.name}[${lo.v}][${li.v}]`, w.ub), el(`${x.name}[${li.v}]`, x.ub), 1) },
        ]);
        return b ? [inner, { k: "assign", target: `${y.name}[${lo.v}]`, op: "+=", e: el(`${b.name}[${lo.v}]`, b.ub) }] : [inner];
      });
      return [...x.pre, ...w.pre, ...(b?.pre ?? []), { k: "decl", kw: "const", name: y.name, init: leaf(ten([out]), `zeros([${out}])`, 0) }, loop];
    }
    if (kind === 1) {
      // convolution by loops: y[o][i][j] = b[o] + sum_c,ki,kj x[c][i*S+ki][j*S+kj] w[o][c][ki][kj]
      const O = r.int(1, 2);
      const C = r.int(1, 2);
      const K = r.int(1, 3);
      const S = r.int(1, 2);
      const OH = r.int(1, 3);
      const OW = r.int(1, 3);
      const H = (OH - 1) * S + K;
      const W = (OW - 1) * S + K;
      const x = this.namedTensor([C, H, W]);
      const w = this.namedTensor([O, C, K, K]);
      const b = r.chance(0.5) ? this.namedTensor([O]) : undefined;
      const ub = C * K * K * x.ub * w.ub + (b?.ub ?? 0);
      const y = this.declare({ name: this.fresh("y"), ty: ten([O, OH, OW]), mutable: false, ub, writable: true, reads: 0 });
      const acc = this.fresh("acc");
      const act = r.pick(["", "relu", "Math.tanh"]);
      const loop = this.loop(O, (lo) => [this.loop(OH, (li) => [this.loop(OW, (lj) => {
        const conv = this.loop(C, (lc) => [this.loop(K, (lki) => [this.loop(K, (lkj) => [{
          k: "assign", target: acc, op: "+=",
          e: bin("*", el(`${x.name}[${lc.v}][${idx(li.v, S, lki.v)}][${idx(lj.v, S, lkj.v)}]`, x.ub), el(`${w.name}[${lo.v}][${lc.v}][${lki.v}][${lkj.v}]`, w.ub), 1),
        }])])]);
        const out = el(acc, ub);
        return [
          { k: "decl", kw: "let", name: acc, init: b ? el(`${b.name}[${lo.v}]`, b.ub) : lit(0) },
          conv,
          { k: "assign", target: `${y.name}[${lo.v}][${li.v}][${lj.v}]`, op: "=", e: act ? call(act, [out], NUM, ub) : out },
        ];
      })])]);
      return [...x.pre, ...w.pre, ...(b?.pre ?? []), { k: "decl", kw: "const", name: y.name, init: leaf(ten([O, OH, OW]), `zeros([${O}, ${OH}, ${OW}])`, 0) }, loop];
    }
    if (kind === 2) {
      // max-pooling by loops with Math.max
      const K = r.int(1, 3);
      const S = r.int(1, 2);
      const OH = r.int(1, 3);
      const OW = r.int(1, 3);
      const x = this.namedTensor([(OH - 1) * S + K, (OW - 1) * S + K]);
      const y = this.declare({ name: this.fresh("y"), ty: ten([OH, OW]), mutable: false, ub: x.ub, writable: true, reads: 0 });
      const m = this.fresh("mx");
      const loop = this.loop(OH, (li) => [this.loop(OW, (lj) => [
        { k: "decl", kw: "let", name: m, init: el(`${x.name}[${li.v}${S === 1 ? "" : ` * ${S}`}][${lj.v}${S === 1 ? "" : ` * ${S}`}]`, x.ub) },
        this.loop(K, (lki) => [this.loop(K, (lkj) => [{
          k: "assign", target: m, op: "=",
          e: call("Math.max", [el(m, x.ub), el(`${x.name}[${idx(li.v, S, lki.v)}][${idx(lj.v, S, lkj.v)}]`, x.ub)], NUM, x.ub),
        }])]),
        { k: "assign", target: `${y.name}[${li.v}][${lj.v}]`, op: "=", e: el(m, x.ub) },
      ])]);
      return [...x.pre, { k: "decl", kw: "const", name: y.name, init: leaf(ten([OH, OW]), `zeros([${OH}, ${OW}])`, 0) }, loop];
    }
    // softmax by loops, stable: max, sum of exponentials, quotients
    const n = r.int(2, 5);
    const x = this.namedTensor([n]);
    const mx = this.fresh("mx");
    const se = this.fresh("se");
    const y = this.declare({ name: this.fresh("y"), ty: ten([n]), mutable: false, ub: 1, writable: true, reads: 0 });
    const e = (i: string): Expr => tpl(NUM, [], Math.E, () => `Math.exp(${x.name}[${i}] - ${mx})`);
    return [
      ...x.pre,
      { k: "decl", kw: "let", name: mx, init: el(`${x.name}[0]`, x.ub) },
      this.loop(n, (l) => [{ k: "assign", target: mx, op: "=", e: call("Math.max", [el(mx, x.ub), el(`${x.name}[${l.v}]`, x.ub)], NUM, x.ub) }]),
      { k: "decl", kw: "let", name: se, init: lit(0) },
      this.loop(n, (l) => [{ k: "assign", target: se, op: "+=", e: e(l.v) }]),
      { k: "decl", kw: "const", name: y.name, init: leaf(ten([n]), `zeros([${n}])`, 0) },
      this.loop(n, (l) => [{ k: "assign", target: `${y.name}[${l.v}]`, op: "=", e: bin("/", e(l.v), el(se, 1), 1) }]),
    ];
  }

  recurrentCell(): Stmt[] {
    const r = this.r;
    const n = r.int(2, 4);
    const shape = [n];
    const init: Expr = r.chance(0.5) ? leaf(ten(shape), `zeros([${n}])`, 0) : call("tanh", [this.tensor(shape, 1)], ten(shape), 1);
    const h = this.declare({ name: this.fresh("h"), ty: ten(shape), mutable: true, ub: 1, writable: false });
    const decl: Stmt = { k: "decl", kw: "let", name: h.name, init };
    const steps = r.int(2, 4);
    const loop = (this.ints.length && r.chance(0.5) ? (b: () => Stmt[]) => this.loopRange(this.intRange(), b) : (b: () => Stmt[]) => this.loop(steps, b))(() => {
      if (r.chance(0.5)) {
        // whole-tensor update: h = tanh(W h + x_t)
        const hRef = leaf(ten(shape), h.name, 1);
        const w = this.weight([n, n], 1);
        const x = this.tensor(shape, 1);
        const pre = call("add", [call("linear", [hRef, w], ten(shape), n * w.ub), x], ten(shape), n * w.ub + x.ub);
        return [{ k: "assign", target: h.name, op: "=", e: call(r.pick(["tanh", "sigmoid"]), [pre], ten(shape), 1) }];
      }
      // element-wise cell written out: hn[i] = tanh(h[i] * a + e)
      const hn = this.declare({ name: this.fresh("hn"), ty: ten(shape), mutable: false, ub: 1, writable: true });
      const body = this.loop(n, (l) => {
        const e = this.scalar(2);
        const a = this.bounded(1);
        const hi = r.chance(0.7) ? l.v : this.index(n);
        return [{
          k: "assign", target: `${hn.name}[${l.v}]`, op: "=",
          e: call("Math.tanh", [bin("+", bin("*", leaf(NUM, `${h.name}[${hi}]`, 1), a, 1), e, 1 + e.ub)], NUM, 1),
        }];
      });
      hn.writable = false;
      return [
        { k: "decl", kw: "const", name: hn.name, init: leaf(ten(shape), `zeros([${n}])`, 0) },
        body,
        { k: "assign", target: h.name, op: "=", e: leaf(ten(shape), hn.name, 1) },
      ];
    });
    return [decl, loop];
  }

  // ------------------------------------------------------------------ run-time sizes
  /** The largest value of a size in the program's runs (for magnitude bounds). */
  maxSize(sym: string): number {
    return Math.max(...this.syms.get(sym)!);
  }

  /** `x.length` or `x[0].length` of a parameter with dimension S (before the body is generated). */
  sizeExprFromParams(S: string): string {
    const opts: string[] = [];
    for (const p of this.params) {
      const dims = p.ty.k === "ten" ? p.ty.dims : undefined;
      if (dims?.[0] === S) opts.push(`${p.name}.length`);
      if (dims?.[1] === S) opts.push(`${p.name}[0].length`);
    }
    return this.r.pick(opts);
  }

  /** An expression for size S: `x.length`, `x[0].length` or a `const n = x.length` of the entry. */
  sizeExpr(S: string): string {
    const opts: string[] = [];
    for (const v of this.symVars()) {
      const dims = (v.ty as { dims: readonly Dim[] }).dims;
      if (dims[0] === S) opts.push(`${v.name}.length`);
      if (dims[1] === S) opts.push(`${v.name}[0].length`);
    }
    for (const c of this.sizeConsts) if (c.sym === S) opts.push(c.name, c.name);
    return this.r.pick(opts);
  }

  /** An index into a dimension of run-time size S, in range at every size (S >= 1). */
  symIndex(S: string): string {
    const r = this.r;
    const opts: string[] = [];
    const here = this.loops.filter((l) => l.sym?.s === S);
    for (const l of here) {
      const { kind, outer } = l.sym!;
      const i = l.v;
      opts.push(i, i);
      if (kind === "full") {
        opts.push(`${this.sizeExpr(S)} - 1 - ${i}`);
        if (this.flags.modulo) opts.push(`(${i} + ${r.int(1, 2)}) % ${this.sizeExpr(S)}`);
        if (this.flags.triangularLoops) opts.push(`Math.floor(${i} / 2)`);
        for (const m of here) {
          if (m !== l && m.sym!.kind === "full" && this.flags.modulo) opts.push(`(${i} + ${m.v}) % ${this.sizeExpr(S)}`);
        }
      } else if (kind === "lt") opts.push(`${i} + 1`, `${outer} - 1 - ${i}`);
      else if (kind === "le") opts.push(`${outer} - ${i}`);
      else opts.push(`${i} - 1`, `${this.sizeExpr(S)} - 1 - ${i}`);
    }
    if (opts.length && r.chance(0.85)) return r.pick(opts);
    return r.chance(0.6) ? "0" : `${this.sizeExpr(S)} - 1`;
  }

  /** An index into one dimension (literal or run-time). */
  dimIndex(d: Dim): string {
    return typeof d === "number" ? this.index(d) : this.symIndex(d);
  }

  symElementRead(): Expr {
    const looped = new Set(this.loops.filter((l) => l.sym).map((l) => l.sym!.s));
    const v = this.pickVar((x) => x.ty.k === "ten" && x.ty.dims !== undefined &&
      (looped.size === 0 || x.ty.dims.some((d) => looped.has(d as string)) || this.r.chance(0.3)));
    const w = v ?? this.r.pick(this.symVars());
    w.reads++;
    const dims = (w.ty as { dims: readonly Dim[] }).dims;
    return leaf(NUM, `${w.name}${dims.map((d) => `[${this.dimIndex(d)}]`).join("")}`, w.ub);
  }

  /** A tensor expression with the run-time dimensions `dims`, built from tensors of those dimensions. */
  symTensor(dims: readonly Dim[], d: number): Expr {
    const r = this.r;
    const ty = symTen(dims, (S) => this.maxSize(S));
    const same = this.symVars().filter((v) => sameTy(v.ty, ty));
    if (d <= 0 || r.chance(0.35) || this.budget-- <= 0) {
      const v = r.pick(same);
      return this.read(v);
    }
    return r.weighted<() => Expr>([
      [3, () => {
        const a = this.symTensor(dims, d - 1);
        return r.weighted<() => Expr>([
          [2, () => call("relu", [a], ty, a.ub)],
          [2, () => call("tanh", [a], ty, 1)],
          [1, () => call("sigmoid", [a], ty, 1)],
          [1, () => call("exp", [call("tanh", [a], ty, 1)], ty, Math.E)],
          [dims.length === 1 ? 1 : 0, () => call("softmax", [a], ty, 1)],
        ])();
      }],
      [2, () => {
        const a = this.symTensor(dims, d - 1);
        const s = this.within(this.scalar(d - 1), 3);
        const op = r.pick(["add", "mul", "sub"]);
        return call(op, r.chance(0.7) ? [a, s] : [s, a], ty, op === "mul" ? a.ub * s.ub : a.ub + s.ub);
      }],
      [2, () => {
        const a = this.symTensor(dims, d - 1);
        const b = this.symTensor(dims, d - 1);
        const op = r.pick(["add", "mul", "sub"]);
        return call(op, [a, b], ty, op === "mul" ? a.ub * b.ub : a.ub + b.ub);
      }],
    ])();
  }

  /** A number from tensors of run-time size: sum, mean, dot, a linear layer on a batch of any size. */
  symReduction(d: number): Expr {
    const r = this.r;
    const src = r.pick(this.symVars());
    const dims = (src.ty as { dims: readonly Dim[] }).dims;
    const elems = sizeOf(shapeOf(src.ty));
    const k = r.int(0, 9);
    if (k < 4) {
      const t = this.symTensor(dims, d - 1);
      return r.chance(0.5) ? call("sum", [t], NUM, t.ub * elems) : call("mean", [t], NUM, t.ub);
    }
    if (k < 7) {
      const a = this.symTensor(dims, d - 1);
      const b = this.symTensor(dims, d - 1);
      return call("dot", [a, b], NUM, a.ub * b.ub * elems);
    }
    if (this.flags.linear && dims.length === 2 && typeof dims[1] === "number") {
      // linear(x, w, b) on x: [N, k]: [N, h]
      const inp = dims[1];
      const h = r.int(1, 3);
      const x = this.symTensor(dims, d - 1);
      const w = this.weight([h, inp], d);
      const args = [x, w];
      if (r.chance(0.5)) args.push(this.weight([h], d));
      const ty = symTen([dims[0]!, h], (S) => this.maxSize(S));
      const ub = inp * x.ub * w.ub + (args[2]?.ub ?? 0);
      const y = call("linear", args, ty, ub);
      const act = r.pick(["relu", "tanh", ""]);
      const z = act ? call(act, [y], ty, act === "tanh" ? 1 : ub) : y;
      return r.chance(0.5) ? call("sum", [z], NUM, z.ub * sizeOf(ty.k === "ten" ? ty.shape : [])) : call("mean", [z], NUM, z.ub);
    }
    // an element of a row: t[i] of a [N, k] tensor, reduced
    return this.symElementRead();
  }

  /** A loop over a run-time size S: up, down or by 2 (the counter indexes dimensions S). */
  symRange(S: string): (v: string) => Range {
    const r = this.r;
    const n = this.maxSize(S);
    const min = Math.min(...this.syms.get(S)!);
    const k = r.int(0, 5);
    const len = this.sizeExpr(S);
    const all = Array.from({ length: n }, (_, j) => j);
    const sym = { s: S, kind: "full" as const };
    if (k < 3) return (v) => ({ header: { init: "0", cond: `${v} < ${len}`, inc: `${v}++`, minTrips: min }, vals: all, sym });
    if (k < 5) return (v) => ({ header: { init: `${len} - 1`, cond: `${v} >= 0`, inc: `${v}--`, minTrips: min }, vals: all, sym });
    return (v) => ({ header: { init: "0", cond: `${v} < ${len}`, inc: `${v} += 2`, minTrips: min }, vals: all.filter((j) => j % 2 === 0), sym });
  }

  /**
   * A triangular loop inside loop l: `j < i`, `j <= i` or `j = i + 1 ..` up to l's size (a
   * literal bound for a loop of literal count). Undefined when l cannot have one.
   */
  triRange(l: Loop): ((v: string) => Range) | undefined {
    if (!this.flags.triangularLoops || l.opaque || l.vals.length === 0) return undefined;
    if (l.sym && l.sym.kind !== "full") return undefined;
    const lo = Math.min(...l.vals);
    const hi = Math.max(...l.vals);
    if (lo < 0 || hi < 1) return undefined;
    const r = this.r;
    const kind = r.pick(["lt", "le", "after"] as const);
    const upTo = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a + 1) }, (_, j) => a + j);
    const S = l.sym?.s;
    const sym = S ? { s: S, kind, outer: l.v } : undefined;
    const i = l.v;
    if (kind === "lt") return (v) => ({ header: { init: "0", cond: `${v} < ${i}`, inc: `${v}++`, minTrips: 0 }, vals: upTo(0, hi - 1), ...(sym ? { sym } : {}) });
    if (kind === "le") return (v) => ({ header: { init: "0", cond: `${v} <= ${i}`, inc: `${v}++`, minTrips: lo + 1 }, vals: upTo(0, hi), ...(sym ? { sym } : {}) });
    const bound = S ? this.sizeExpr(S) : String(hi + 1 + r.int(0, 1));
    const last = S ? this.maxSize(S) - 1 : Number(bound) - 1;
    return (v) => ({ header: { init: `${i} + 1`, cond: `${v} < ${bound}`, inc: `${v}++`, minTrips: 0 }, vals: upTo(lo + 1, last), ...(sym ? { sym } : {}) });
  }

  /** A loop to an integer parameter: `for (let k = 0; k < steps; k++)`. */
  intRange(): (v: string) => Range {
    const p = this.r.pick(this.ints);
    const n = Math.max(...p.values);
    return (v) => ({
      header: { init: "0", cond: `${v} < ${p.name}`, inc: `${v}++`, minTrips: Math.min(...p.values) },
      vals: Array.from({ length: n }, (_, j) => j), opaque: true,
    });
  }

  /** A loop with a written-out header (see Range); `body` is generated with the counter in scope. */
  loopRange(range: (v: string) => Range, body: (l: Loop) => Stmt[]): Stmt {
    const v = `i${this.loopCounter++}`;
    const rg = range(v);
    const l: Loop = { v, vals: rg.vals, ...(rg.sym ? { sym: rg.sym } : {}), ...(rg.opaque ? { opaque: true } : {}) };
    this.loops.push(l);
    const stmts = this.withScope(() => body(l));
    this.loops.pop();
    return { k: "for", v, start: 0, step: 1, count: rg.vals.length, inclusive: false, header: rg.header, body: stmts };
  }

  /**
   * `const y = zeros([n])` (or `[n, k]`) filled in a loop over the run-time size: each
   * element from reads at the counter, or accumulated over a triangular inner loop (a
   * prefix recurrence over y's own earlier elements among them).
   */
  buildSym(): Stmt[] {
    const r = this.r;
    const S = r.pick([...this.syms.keys()]);
    const k = r.chance(0.35) ? r.int(2, 3) : undefined;
    const dims: Dim[] = k ? [S, k] : [S];
    const len = this.sizeExpr(S);
    const y = this.declare({ name: this.fresh("y"), ty: symTen(dims, (s) => this.maxSize(s)), mutable: false, ub: 0, writable: false });
    y.hidden = true;
    const decl: Stmt = { k: "decl", kw: "const", name: y.name, init: leaf(y.ty, `zeros([${len}${k ? `, ${k}` : ""}])`, 0) };
    const loop = this.loopRange(this.symRange(S), (li) => {
      const fill = (target: string): Stmt[] => {
        const kind = r.int(0, 3);
        const tri = this.triRange(li);
        if (kind === 0 && tri) {
          // y[i] += e over a triangular inner loop
          return [this.loopRange(tri, () => {
            const e = this.scalar(2);
            y.ub += this.trips(y) * e.ub;
            return [{ k: "assign", target, op: "+=", e }];
          })];
        }
        if (kind === 1 && tri && !k) {
          // a prefix recurrence: y[i] = e; y[i] += c * tanh(y[j]) for j < i
          const e = this.scalar(2);
          const c = this.posLiteral(0.1, 0.9);
          const inner = this.loopRange(tri, (lj) => [{
            k: "assign", target, op: "+=", e: bin("*", c, leaf(NUM, `Math.tanh(${y.name}[${lj.v}])`, 1), c.ub),
          }]);
          y.ub = Math.max(y.ub, e.ub) + this.maxSize(S);
          return [{ k: "assign", target, op: "=", e }, inner];
        }
        const pre = this.stmts(r.int(0, 1), false);
        const e = this.scalar(r.int(1, 3));
        y.ub = Math.max(y.ub, e.ub);
        return [...pre, { k: "assign", target, op: "=", e }];
      };
      if (k) return [this.loop(k, (lc) => fill(`${y.name}[${li.v}][${lc.v}]`))];
      return fill(`${y.name}[${li.v}]`);
    });
    y.hidden = false;
    return [decl, loop];
  }

  // ------------------------------------------------------------------ functions
  /** The final return: uses the variables nothing has read yet, so little code is dead. */
  finalReturn(): Stmt {
    const r = this.r;
    const unread = [...this.vars(), ...this.symVars()].filter((v) => v.reads === 0 && !v.param);
    let e = this.returnExpr();
    for (const v of unread.slice(0, 4)) {
      const x = this.read(v);
      if (this.retTy.k === "num") {
        const term = x.ty.k === "num" ? this.squash(x) : this.squash(r.chance(0.5) ? call("sum", [x], NUM, x.ub * sizeOf(shapeOf(x.ty))) : call("mean", [x], NUM, x.ub));
        e = bin(r.pick(["+", "-"]), e, term, e.ub + term.ub);
      } else if (x.ty.k === "num") {
        e = call(r.pick(["add", "mul"]), [e, this.squash(x)], this.retTy, e.ub * (x.ub + 1));
      } else if (sameTy(x.ty, this.retTy)) {
        e = call("add", [e, x], this.retTy, e.ub + x.ub);
      }
    }
    return { k: "return", e: this.squash(e) };
  }

  fn(name: string, exported: boolean, params: Param[], ret: Ty, nStmts: number): { fn: Fn; ub: number } {
    this.params = params;
    this.retTy = ret;
    this.isEntry = exported;
    this.earlyReturns = 0;
    this.loopCounter = 0;
    this.loops = [];
    this.scopes = [[]];
    for (const p of params) {
      if (p.role !== "real") continue;
      this.scopes[0]!.push({ name: p.name, ty: p.ty, mutable: this.flags.paramReassign && p.ty.k === "num" && this.r.chance(0.3), ub: p.ty.k === "num" ? 1.5 : 1, writable: false, reads: 0, loopDepth: 0, param: p });
    }
    this.budget = exported ? 120 : 60;
    const body = [...(exported ? this.prelude : []), ...this.stmts(nStmts, true)];
    body.push(this.finalReturn());
    const ub = Math.min(LIMIT, Math.max(...collectReturns(body).map((e) => e.ub)));
    let wrt: string[] | undefined;
    const real = this.params.filter((p) => p.role === "real");
    if (exported && this.flags.wrtTag && real.length >= 2 && this.r.chance(0.15)) {
      wrt = real.filter(() => this.r.chance(0.6)).map((p) => p.name);
      if (wrt.length === 0) wrt = [real[0]!.name];
    }
    const typeParams = exported ? [...this.syms.keys()] : [];
    return { fn: { name, exported, params: this.params, ret, body, ...(wrt ? { wrt } : {}), ...(typeParams.length ? { typeParams } : {}) }, ub };
  }
}

function collectReturns(stmts: readonly Stmt[]): Expr[] {
  const out: Expr[] = [];
  for (const s of stmts) {
    if (s.k === "return") out.push(s.e);
    else if (s.k === "if") out.push(...collectReturns(s.then), ...collectReturns(s.els ?? []));
  }
  return out;
}

/** The entry point of program `seed` is named e<seed>; helpers h<seed>a, h<seed>b, ... */
export function generateProgram(seed: number, flags: GenFlags = DEFAULT_FLAGS): Program {
  const g = new Gen(seed, flags, String(seed));
  const r = g.r;
  const fns: Fn[] = [];
  const nHelpers = flags.helpers ? r.weighted([[5, 0], [4, 1], [2, 2]] as const) : 0;
  for (let k = 0; k < nHelpers; k++) {
    const params: Param[] = [];
    const np = r.int(1, 3);
    for (let j = 0; j < np; j++) {
      const ty = r.chance(0.5) ? NUM : ten(g.randomShape());
      params.push({ name: `p${j}`, ty, role: "real" });
    }
    const ret = r.chance(0.7) || !flags.tensorReturn ? NUM : ten(g.randomShape());
    const { fn, ub } = g.fn(`h${seed}${String.fromCharCode(97 + k)}`, false, params, ret, r.int(1, 4));
    fns.push(fn);
    g.helpers.push({ name: fn.name, params: fn.params, ret, ub });
  }
  const params: Param[] = [];
  let ret = flags.tensorReturn && r.chance(0.2) ? ten(g.randomShape()) : NUM;
  g.params = params;
  g.isEntry = true;
  g.scopes = [[]];
  g.counter = 0;
  const nScalars = r.int(2, 4);
  for (let k = 0; k < nScalars; k++) g.newParam(NUM);
  const runs = flags.runTimeSizes ? runTimeSizes(g) : undefined;
  // a tensor of run-time size out (its vector-Jacobian product takes a cotangent of that size)
  const sized = params.filter((q) => q.ty.k === "ten" && q.ty.dims);
  if (sized.length && flags.tensorReturn && r.chance(0.25)) ret = r.pick(sized).ty;
  const nTensors = r.int(0, runs ? 1 : 2);
  for (let k = 0; k < nTensors; k++) g.newParam(ten(g.randomShape()));
  const { fn } = g.fn(`e${seed}`, true, params, ret, r.int(3, 6));
  fns.push(fn);
  return {
    seed, fns, ...(g.consts.length ? { consts: g.consts } : {}), ...(runs ? { runs } : {}),
    ...(g.rules.size ? { rules: [...g.rules.values()] } : {}),
  };
}

/** How many runs (sets of sizes) a program with run-time sizes is checked at. */
const RUNS = 3;

/**
 * Makes some entry points generic in their sizes: type parameters N (and M), 1-3 tensor
 * parameters with those dimensions (`[N]`, `[N, 3]`, `[N, M]`, `[2, N]`), sometimes
 * `const n = x.length` at the top, and sometimes an integer parameter used as a loop bound
 * (`steps`). Returns the runs -- N = 1, a small and a larger N, integers from 0 -- or
 * undefined for an entry with neither.
 */
function runTimeSizes(g: Gen): SizeRun[] | undefined {
  const r = g.r;
  const sized = r.chance(0.3);
  const withInt = r.chance(sized ? 0.3 : 0.08);
  if (!sized && !withInt) return undefined;
  const runs: Record<string, number>[] = Array.from({ length: RUNS }, () => ({}));
  const shuffled = (xs: number[]): number[] => {
    for (let k = xs.length - 1; k > 0; k--) {
      const j = r.int(0, k);
      [xs[k], xs[j]] = [xs[j]!, xs[k]!];
    }
    return xs;
  };
  if (sized) {
    const syms = r.chance(0.6) ? ["N"] : ["N", "M"];
    for (const S of syms) {
      const values = S === "N" ? shuffled([1, r.int(2, 3), r.int(4, 6)]) : shuffled([r.int(1, 2), r.int(2, 3), r.int(3, 4)]);
      values.forEach((v, k) => (runs[k]![S] = v));
      g.syms.set(S, values);
    }
    const at = (S: string): number => g.maxSize(S);
    const choices: Dim[][] = syms.length === 1
      ? [["N"], ["N"], ["N", r.int(2, 3)], [r.int(2, 3), "N"]]
      : [["N", "M"], ["N", "M"], ["N"], ["M"], ["M", r.int(2, 3)], ["N", r.int(2, 3)], ["M", "N"]];
    const nParams = r.int(1, 3);
    const dimsList: Dim[][] = [];
    // sometimes only [N, M] arrays: no array determines N or M alone, so the generated
    // functions take a trailing { N, M } argument
    const onlyPairs = syms.length === 2 && r.chance(0.35);
    for (let k = 0; k < nParams; k++) dimsList.push(onlyPairs ? r.pick<Dim[]>([["N", "M"], ["M", "N"]]) : r.pick(choices));
    // every size appears in some parameter
    for (const S of syms) if (!dimsList.some((ds) => ds.includes(S))) dimsList.push([S]);
    for (const dims of dimsList) g.newParam(symTen(dims, at));
    for (const S of syms) {
      if (!r.chance(0.4)) continue;
      const name = g.fresh("n");
      const init = leaf(INT, g.sizeExprFromParams(S), g.maxSize(S));
      g.prelude.push({ k: "decl", kw: "const", name, init });
      g.sizeConsts.push({ name, sym: S });
    }
  }
  if (withInt) {
    const p = g.newParam(NUM, "int");
    const values = shuffled([r.int(0, 1), r.int(1, 3), r.int(3, 5)]);
    values.forEach((v, k) => (runs[k]![p.name] = v));
    g.ints.push({ name: p.name, values });
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Shrinking
// ---------------------------------------------------------------------------------------------

type Path = readonly number[];

/** Every statement list in a function body, with a rebuild function. */
function mapStmts(stmts: readonly Stmt[], f: (s: Stmt, i: number, list: readonly Stmt[]) => Stmt[] | undefined): Stmt[] {
  const out: Stmt[] = [];
  stmts.forEach((s, i) => {
    const r = f(s, i, stmts);
    if (r) out.push(...r);
    else out.push(s);
  });
  return out;
}

/** All statements, pre-order, with paths. */
function allStmts(stmts: readonly Stmt[], path: Path = []): { s: Stmt; path: Path }[] {
  const out: { s: Stmt; path: Path }[] = [];
  stmts.forEach((s, i) => {
    const p = [...path, i];
    out.push({ s, path: p });
    if (s.k === "if") {
      out.push(...allStmts(s.then, [...p, 0]));
      out.push(...allStmts(s.els ?? [], [...p, 1]));
    } else if (s.k === "for") out.push(...allStmts(s.body, [...p, 0]));
  });
  return out;
}

/** Replaces the statement at `path` by `repl` (spliced). */
function replaceStmt(stmts: readonly Stmt[], path: Path, repl: readonly Stmt[]): Stmt[] {
  const [i, ...rest] = path;
  if (rest.length === 0) return [...stmts.slice(0, i), ...repl, ...stmts.slice(i! + 1)];
  const [which, ...deeper] = rest;
  return mapStmts(stmts, (s, j) => {
    if (j !== i) return undefined;
    if (s.k === "if") {
      return [which === 0 ? { ...s, then: replaceStmt(s.then, deeper, repl) } : { ...s, els: replaceStmt(s.els ?? [], deeper, repl) }];
    }
    if (s.k === "for") return [{ ...s, body: replaceStmt(s.body, deeper, repl) }];
    return undefined;
  });
}

/** Expression slots of a statement. */
function stmtExprs(s: Stmt): Expr[] {
  switch (s.k) {
    case "decl":
      return [s.init];
    case "assign":
    case "return":
      return [s.e];
    case "if":
      return [s.cond];
    case "for":
    case "declNoInit":
      return [];
  }
}
function withStmtExprs(s: Stmt, es: readonly Expr[]): Stmt {
  switch (s.k) {
    case "decl":
      return { ...s, init: es[0]! };
    case "assign":
    case "return":
      return { ...s, e: es[0]! };
    case "if":
      return { ...s, cond: es[0]! };
    case "for":
    case "declNoInit":
      return s;
  }
}

/** Sub-expression replacements of e: same-typed kids, a simple leaf, recursively. */
function exprVariants(e: Expr, params: readonly Param[]): Expr[] {
  const out: Expr[] = [];
  if (e.ty.k !== "bool") {
    for (const k of e.kids) if (sameTy(k.ty, e.ty)) out.push(k);
    if (e.kids.length > 0 || e.ty.k === "num") {
      if (e.ty.k === "num") {
        const p = params.find((q) => q.ty.k === "num" && q.role === "real");
        if (p && printExpr(e) !== p.name) out.push(leaf(NUM, p.name, 1.5));
        if (printExpr(e) !== "0.5") out.push(lit(0.5));
      } else if (e.ty.k === "ten") {
        const p = params.find((q) => sameTy(q.ty, e.ty) && q.role === "real");
        if (p && printExpr(e) !== p.name) out.push(leaf(e.ty, p.name, 1));
      }
    }
  }
  e.kids.forEach((k, i) => {
    for (const v of exprVariants(k, params)) {
      const kids = e.kids.slice();
      kids[i] = v;
      out.push({ ...e, kids });
    }
  });
  return out;
}

function withFn(p: Program, index: number, f: Fn): Program {
  const fns = p.fns.slice();
  fns[index] = f;
  return { ...p, fns };
}

/** Removes unused parameters and helper functions nothing calls. */
export function cleanup(p: Program): Program {
  const live = new Set(liveFns(p));
  const fns = p.fns.filter((f) => live.has(f)).map((f) => {
    if (!f.exported) return f;
    const text = f.body.map((s) => printStmtText(s)).join("\n");
    const params = f.params.filter((q) => new RegExp(`\\b${q.name}\\b`).test(text));
    const wrt = f.wrt?.filter((w) => params.some((q) => q.name === w));
    // (a size no parameter names any more goes too)
    const typeParams = f.typeParams?.filter((t) => params.some((q) => q.ty.k === "ten" && q.ty.dims?.includes(t)));
    return {
      ...f, params, ...(f.wrt ? { wrt: wrt && wrt.length ? wrt : undefined } : {}),
      ...(f.typeParams ? { typeParams: typeParams?.length ? typeParams : undefined } : {}),
    };
  });
  return { ...p, fns };
}

function printStmtText(s: Stmt): string {
  const out: string[] = [];
  printStmts([s], "", out);
  return out.join("\n");
}

/**
 * Smaller variants of a program, roughly largest reduction first: helper calls dropped,
 * statements removed, if statements replaced by a branch, loops unwrapped (the counter
 * becomes a const) or shortened, expressions replaced by sub-expressions or leaves.
 * Candidates need not be valid programs: the caller keeps one only if it fails the same way.
 */
export function* shrinkCandidates(p: Program): Generator<Program> {
  for (let fi = p.fns.length - 1; fi >= 0; fi--) {
    const f = p.fns[fi]!;
    const stmts = allStmts(f.body);
    const lastTop = f.body.length - 1;
    const put = (body: Stmt[]): Program => cleanup(withFn(p, fi, { ...f, body }));
    // remove statements (never the final return)
    for (const { s, path } of stmts) {
      if (path.length === 1 && path[0] === lastTop && s.k === "return") continue;
      yield put(replaceStmt(f.body, path, []));
    }
    // structural simplifications
    for (const { s, path } of stmts) {
      if (s.k === "if") {
        yield put(replaceStmt(f.body, path, s.then));
        if (s.els) {
          yield put(replaceStmt(f.body, path, s.els));
          yield put(replaceStmt(f.body, path, [{ ...s, els: null }]));
        }
      } else if (s.k === "for") {
        const c: Stmt = { k: "decl", kw: "const", name: s.v, init: s.header ? leaf(INT, s.header.init, 0, false) : lit(s.start) };
        yield put(replaceStmt(f.body, path, [c, ...s.body]));
        if (s.count > 1 && s.lengthOf === undefined && s.header === undefined) {
          yield put(replaceStmt(f.body, path, [{ ...s, count: 1, boundConst: undefined }]));
          if (s.count > 2) yield put(replaceStmt(f.body, path, [{ ...s, count: s.count - 1, boundConst: undefined }]));
        }
      } else if (s.k === "decl" && s.kw === "let") {
        yield put(replaceStmt(f.body, path, [{ ...s, kw: "const" }]));
      }
    }
    // expression replacements
    for (const { s, path } of stmts) {
      const es = stmtExprs(s);
      for (let j = 0; j < es.length; j++) {
        for (const v of exprVariants(es[j]!, f.params)) {
          const ns = es.slice();
          ns[j] = v;
          yield put(replaceStmt(f.body, path, [withStmtExprs(s, ns)]));
        }
      }
    }
    if (f.wrt) yield cleanup(withFn(p, fi, { ...f, wrt: undefined }));
  }
}

/** A count of AST nodes, to report how much shrinking achieved. */
export function programSize(p: Program): number {
  const exprSize = (e: Expr): number => 1 + e.kids.reduce((s, k) => s + exprSize(k), 0);
  const stmtSize = (s: Stmt): number =>
    1 + stmtExprs(s).reduce((a, e) => a + exprSize(e), 0) +
    (s.k === "if" ? [...s.then, ...(s.els ?? [])].reduce((a, t) => a + stmtSize(t), 0) : s.k === "for" ? s.body.reduce((a, t) => a + stmtSize(t), 0) : 0);
  return liveFns(p).reduce((a, f) => a + f.body.reduce((b, s) => b + stmtSize(s), 0), 0);
}
