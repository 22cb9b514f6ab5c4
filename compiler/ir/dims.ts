// Dimensions of tensor types: a literal number, or a polynomial with integer coefficients
// in size symbols known only at run time (an entry's type parameters, `N`, and its integer
// parameters, `n`). Polynomials are kept in one canonical form (terms sorted, like terms
// merged, zero terms dropped, a constant polynomial is a number), so that two dimensions
// are provably equal exactly when their forms are equal, and provably different when they
// differ by a non-zero constant (N + 1 and N). Products arise from flatten ([N, 28, 28] ->
// [784 N]), sums from index arithmetic on sizes (`n - 1`).
//
// Plain data, like the rest of the IR: a symbolic dimension is { terms: [...] }.

/** c · s1 · s2 · ... (symbols sorted; a repeated symbol is a power). */
export interface DimTerm {
  readonly coef: number;
  readonly syms: readonly string[];
}

export interface SymDim {
  readonly terms: readonly DimTerm[];
}

export type Dim = number | SymDim;

const keyOf = (syms: readonly string[]): string => syms.join("*");

/** The canonical form of a sum of terms. */
function normalize(terms: readonly DimTerm[]): Dim {
  const merged = new Map<string, DimTerm>();
  for (const t of terms) {
    const syms = [...t.syms].sort();
    const k = keyOf(syms);
    const prev = merged.get(k);
    merged.set(k, { coef: (prev?.coef ?? 0) + t.coef, syms });
  }
  const out = [...merged.values()].filter((t) => t.coef !== 0)
    .sort((a, b) => b.syms.length - a.syms.length || (keyOf(a.syms) < keyOf(b.syms) ? -1 : keyOf(a.syms) > keyOf(b.syms) ? 1 : 0));
  if (out.length === 0) return 0;
  if (out.length === 1 && out[0]!.syms.length === 0) return out[0]!.coef;
  return { terms: out };
}

const termsOf = (d: Dim): readonly DimTerm[] => (typeof d === "number" ? (d === 0 ? [] : [{ coef: d, syms: [] }]) : d.terms);

/** The dimension named by a size symbol. */
export function sym(name: string): Dim {
  return { terms: [{ coef: 1, syms: [name] }] };
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  return normalize([...termsOf(a), ...termsOf(b)]);
}

export function dimSub(a: Dim, b: Dim): Dim {
  return dimAdd(a, dimScale(b, -1));
}

export function dimScale(a: Dim, c: number): Dim {
  if (typeof a === "number") return a * c;
  return normalize(a.terms.map((t) => ({ coef: t.coef * c, syms: t.syms })));
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a * b;
  const out: DimTerm[] = [];
  for (const x of termsOf(a)) for (const y of termsOf(b)) out.push({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms] });
  return normalize(out);
}

/** The product of dimensions (the size of a shape). */
export function dimProduct(ds: readonly Dim[]): Dim {
  return ds.reduce<Dim>((p, d) => dimMul(p, d), 1);
}

export const isLiteral = (d: Dim): d is number => typeof d === "number";

/** Provably equal: the same canonical form. */
export function dimEquals(a: Dim, b: Dim): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return showDim(a) === showDim(b);
}

/** Provably different: they differ by a non-zero constant (5 and 6, N and N + 1). */
export function dimDiffers(a: Dim, b: Dim): boolean {
  const d = dimSub(a, b);
  return typeof d === "number" && d !== 0;
}

/** The symbols a dimension depends on. */
export function symbolsOf(d: Dim): string[] {
  if (typeof d === "number") return [];
  return [...new Set(d.terms.flatMap((t) => t.syms))].sort();
}

/** A dimension as users read it: 784, N, 784*N, 2*n - 1. */
export function showDim(d: Dim): string {
  return jsDim(d, (s) => s, "*");
}

/**
 * A dimension as a JavaScript expression, each symbol written by `name`: `N * 784`. Terms
 * are joined with + and -; the literal term comes last.
 */
export function jsDim(d: Dim, name: (sym: string) => string, times = " * "): string {
  if (typeof d === "number") return String(d);
  const parts: string[] = [];
  const terms = [...d.terms].sort((a, b) => (a.syms.length === 0 ? 1 : 0) - (b.syms.length === 0 ? 1 : 0));
  terms.forEach((t, k) => {
    const mag = Math.abs(t.coef);
    const factors = [...t.syms.map(name), ...(mag !== 1 || t.syms.length === 0 ? [String(mag)] : [])];
    const text = factors.join(times);
    if (k === 0) parts.push(t.coef < 0 ? `-${text}` : text);
    else parts.push(t.coef < 0 ? ` - ${text}` : ` + ${text}`);
  });
  return parts.join("");
}

/** The value of a dimension once its symbols are known (undefined if one is not). */
export function evalDim(d: Dim, env: (sym: string) => number | undefined): number | undefined {
  if (typeof d === "number") return d;
  let total = 0;
  for (const t of d.terms) {
    let p = t.coef;
    for (const s of t.syms) {
      const v = env(s);
      if (v === undefined) return undefined;
      p *= v;
    }
    total += p;
  }
  return total;
}

/** Replaces symbols by dimensions (a helper's type parameters by its caller's dimensions). */
export function substituteDim(d: Dim, by: (sym: string) => Dim | undefined): Dim {
  if (typeof d === "number") return d;
  let out: Dim = 0;
  for (const t of d.terms) {
    let p: Dim = t.coef;
    for (const s of t.syms) p = dimMul(p, by(s) ?? sym(s));
    out = dimAdd(out, p);
  }
  return out;
}

/**
 * How a symbol is bound from the length of a flat array holding a shape: if the shape's size
 * is c · S (S the only unknown symbol, to the first power, c the product of the known
 * dimensions), then S = length / c. Returns the symbol and the known factor, or undefined.
 */
export function solveSize(size: Dim, known: (sym: string) => boolean): { sym: string; factor: Dim } | undefined {
  if (typeof size === "number" || size.terms.length !== 1) return undefined;
  const t = size.terms[0]!;
  const unknown = t.syms.filter((s) => !known(s));
  if (unknown.length !== 1) return undefined;
  const s = unknown[0]!;
  const rest = [...t.syms];
  rest.splice(rest.indexOf(s), 1);
  return { sym: s, factor: normalize([{ coef: t.coef, syms: rest }]) };
}
