// The sizes a generated function binds on entry (SPEC section 5), shared by every exported
// form: each integer parameter is checked to be a non-negative integer; each size symbol
// (a type parameter N of the entry) is read from the length of the first array whose shape
// determines it (x: [N, 784] gives N = x.length / 784), or, when no array does (one flat
// array holding [N, D]), from a trailing `sizes` argument that the signature then requires;
// then every array is checked against its shape, with a RangeError that names the size, the
// array it came from and the array that disagrees.

import { Dim, evalDim, jsDim, showDim, symbolsOf } from "../../ir/dims.js";
import { sizeOf } from "../../ir/types.js";
import { NameScope } from "../names.js";
import { FormContext } from "./common.js";

/** An array the function takes: a parameter, a cotangent, a caller's output or gradient buffer. */
export interface SizedArray {
  /** Its JavaScript expression (a parameter name, grads.w). */
  readonly js: string;
  /** How messages name it: "x", "grads.w". */
  readonly label: string;
  readonly shape: readonly Dim[];
}

export interface Sizes {
  /** The JavaScript name of a size symbol in this function. */
  dimName(sym: string): string;
  /** Every size symbol and integer parameter, with its JavaScript name (for a tape). */
  readonly all: readonly { readonly sym: string; readonly js: string }[];
  /** The trailing parameter holding the sizes no array determines, if any: `sizes: { N: number; D: number }`. */
  readonly param?: string;
  /** The statements that bind the sizes and check the arrays. */
  readonly prologue: readonly string[];
}

/**
 * Binds the sizes of a function: `arrays` in order (the first that determines a size binds
 * it), `integers` the integer parameters with their JavaScript names. With `fromTape`, the
 * sizes are not bound but read as variables of those names (a backward pass).
 */
export function bindSizes(
  cx: FormContext, names: NameScope, fn: string, arrays: readonly SizedArray[], integers: ReadonlyMap<string, string>,
): Sizes {
  const symbols = cx.primal.sizes ?? [];
  const js = new Map<string, string>(integers);
  const prologue: string[] = [];
  const from = new Map<string, string>();
  for (const [n, v] of integers) {
    prologue.push(`if (!(Number.isInteger(${v}) && ${v} >= 0)) throw new RangeError(\`${fn}: ${n} must be a non-negative integer, got \${${v}}\`);`);
    from.set(n, `the parameter ${n}`);
  }
  const known = (s: string): boolean => js.has(s);
  const name = (s: string): string => js.get(s)!;
  const dim = (d: Dim): string => jsDim(d, name);
  const checked = new Set<SizedArray>();

  // sizes from the arrays' lengths
  for (let progress = true; progress;) {
    progress = false;
    for (const a of arrays) {
      const size = sizeOf(a.shape);
      const unknown = symbolsOf(size).filter((s) => !known(s) && symbols.includes(s));
      if (unknown.length !== 1 || typeof size === "number" || size.terms.length !== 1) continue;
      const s = unknown[0]!;
      const term = size.terms[0]!;
      const power = term.syms.filter((x) => x === s).length;
      const rest = term.syms.filter((x) => x !== s);
      const factor: Dim = rest.length ? { terms: [{ coef: term.coef, syms: rest }] } : term.coef;
      const v = names.fresh(s);
      js.set(s, v);
      from.set(s, a.label);
      const f = dim(factor);
      const ratio = f === "1" ? `${a.js}.length` : `${a.js}.length / ${/^[\w$.]+$/.test(f) ? f : `(${f})`}`;
      const shape = `[${a.shape.map(showDim).join(", ")}]`;
      if (power === 1) prologue.push(`const ${v} = ${ratio};`);
      else prologue.push(`const ${v} = Math.round(${power === 2 ? `Math.sqrt(${ratio})` : `(${ratio}) ** (1 / ${power})`});`);
      if (power !== 1 || f !== "1") {
        prologue.push(`if (!(Number.isInteger(${v}) && ${dim(size)} === ${a.js}.length)) {`,
          `throw new RangeError(\`${fn}: ${a.label} has \${${a.js}.length} elements, which is not ${showDim(size)} for an integer ${s} (shape ${shape})\`);`, "}");
      }
      checked.add(a);
      progress = true;
    }
  }
  // the rest from the trailing sizes argument
  const rest = symbols.filter((s) => !known(s));
  let param: string | undefined;
  if (rest.length) {
    const p = names.fresh("sizes");
    param = `${p}: { ${rest.map((s) => `${s}: number`).join("; ")} }`;
    for (const s of rest) {
      const v = names.fresh(s);
      js.set(s, v);
      from.set(s, `${p}.${s}`);
      prologue.push(`const ${v} = ${p}.${s};`,
        `if (!(Number.isInteger(${v}) && ${v} >= 0)) throw new RangeError(\`${fn}: ${p}.${s} must be a non-negative integer, got \${${v}}\`);`);
    }
  }
  // every array against its shape
  for (const a of arrays) if (!checked.has(a)) prologue.push(...arrayCheck(cx, fn, a, name, (s) => from.get(s)!));
  return {
    dimName: (s) => {
      const v = js.get(s);
      if (v === undefined) throw new Error(`internal: the size ${s} is not bound in ${fn}`);
      return v;
    },
    all: [...js].map(([sym, v]) => ({ sym, js: v })),
    ...(param ? { param } : {}),
    prologue,
  };
}

/**
 * Throws a RangeError unless array `a` has its shape's number of elements: the module's
 * checkSize for a literal shape, else a check naming each size and where it came from.
 */
export function arrayCheck(cx: FormContext, fn: string, a: SizedArray, name: (sym: string) => string, from: (sym: string) => string): string[] {
  const size = sizeOf(a.shape);
  const shape = `[${a.shape.map(showDim).join(", ")}]`;
  if (typeof size === "number") return [`${cx.helpers.use("checkSize")}(${a.js}, ${size}, ${JSON.stringify(`${fn}: ${a.label}`)}, "${shape}");`];
  const n = jsDim(size, name);
  const single = symbolsOf(size).length === 1 && showDim(size) === symbolsOf(size)[0];
  const where = single ? `from ${from(symbolsOf(size)[0]!)}` : symbolsOf(size).map((s) => `${s} = \${${name(s)}} from ${from(s)}`).join(", ");
  return [`if (${a.js}.length !== ${n}) {`,
    `throw new RangeError(\`${fn}: ${a.label} has \${${a.js}.length} elements, but its shape ${shape} needs ${showDim(size)} = \${${n}} (${where})\`);`, "}"];
}

/** A dimension as it is shown in the exported shapes: a number, or the size's name. */
export function shownDim(d: Dim): string {
  return typeof d === "number" ? String(d) : JSON.stringify(showDim(d));
}

/** A shape's size once the sizes are known, for tests and tools: undefined if one is not. */
export function concreteSize(shape: readonly Dim[], sizes: (sym: string) => number | undefined): number | undefined {
  return evalDim(sizeOf(shape), sizes);
}
