// Register-blocked matrix products, shared by linear layers and convolutions.

import { Ext, IDENTIFIER, INTEGER, Term, Writer, affine } from "./writer.js";

// ---------------------------------------------------------------------------------------
// Register-blocked matrix products. Linear layers and convolutions (as implicit im2col
// matrices, below) are products C = A B of matrices with static shapes that live in flat
// buffers. The emitted loop nest computes C in blocks of MR x NR elements held in local
// accumulators: per step of the contraction it loads MR values of A and NR of B and does
// MR * NR multiply-adds, so loads are amortised and the accumulators stay in registers.
// Leftover rows and columns form blocks of the leftover size (static: no bounds checks).

/**
 * How an index of a matrix view becomes an offset: `index * stride` for a number, else
 * `table[index]` (an Int32Array of offsets: a convolution's implicit im2col matrix).
 */
export type Axis = number | { readonly table: string };

/** A matrix view on a flat buffer: element (r, c) is buf[at + offset(rs, r) + offset(cs, c)]. */
export interface MatView {
  readonly buf: string;
  /** The offset of element (0, 0): an identifier or an integer literal. */
  readonly at: string;
  readonly rs: Axis;
  readonly cs: Axis;
  /** A hint for the names of loaded values or accumulators ("w", "x", "y"). */
  readonly hint: string;
}

export interface Gemm {
  /** The comment above the loop nest: what the product computes. */
  readonly what: string;
  /** Rows and contraction length: literals, or a batch known only at run time (N). */
  readonly M: Ext;
  readonly N: number;
  readonly K: Ext;
  /** A(i, k), B(k, j), C(i, j). */
  readonly a: MatView;
  readonly b: MatView;
  readonly c: MatView;
  /** C += A B (else C = A B, plus the bias if any). */
  readonly accumulate: boolean;
  /** Accumulators start at bias[i] (along "row") or bias[j] (along "col"). */
  readonly bias?: { readonly buf: string; readonly along: "row" | "col" };
  /** Names of the loop variables over i, j and k (the layer's own names: "o", "p", "k"). */
  readonly names: readonly [string, string, string];
}

/** The block shape MR x NR for a product with M rows and N columns. */
function blockShape(M: number, N: number): [number, number] {
  if (M === 1) return [1, Math.min(N, 8)];
  if (N === 1) return [Math.min(M, 8), 1];
  // 2 x 4: eight accumulators stay in registers (4 x 4 measured 5-15% slower: V8 spills some
  // of sixteen). Each side takes the preferred size if it divides the extent, else another
  // that does (no leftover block), else the preferred one.
  const pick = (n: number, sizes: number[]): number => (n <= sizes[0]! ? n : sizes.find((b) => n % b === 0) ?? sizes[0]!);
  return [pick(M, [2, 3]), pick(N, [4, 5, 3])];
}

/** An offset: the sum of some variables and a static number. */
interface Offset {
  readonly vars: readonly string[];
  readonly c: number;
}

function offsetOf(expr: string, c = 0): Offset {
  return INTEGER.test(expr) ? { vars: [], c: Number(expr) + c } : { vars: [expr], c };
}

function showOffset(o: Offset, c = 0): string {
  const k = o.c + c;
  if (o.vars.length === 0) return String(k);
  return `${o.vars.join(" + ")}${k > 0 ? ` + ${k}` : k < 0 ? ` - ${-k}` : ""}`;
}

function addOffsets(x: Offset, y: Offset): Offset {
  return { vars: [...x.vars, ...y.vars], c: x.c + y.c };
}

export function gemm(w: Writer, g: Gemm): void {
  const { M, N, K, a, b, c } = g;
  // an outer product (K = 1) keeps no accumulators: wider blocks amortise more loads; rows
  // known only at run time take the preferred block and leave single rows
  const outer = K === 1 && (typeof M !== "number" || M > 1) && N > 1;
  const [MR, NR] = typeof M !== "number"
    ? [outer ? 4 : N === 1 ? 4 : 2, outer ? Math.min(N, 8) : blockShape(2, N)[1]]
    : outer ? [Math.min(M, 4), Math.min(N, 8)] : blockShape(M, N);
  const NB = N - (N % NR);
  const accName = (r: number, s: number): string =>
    MR === 1 ? `${c.hint}${s}` : NR === 1 ? `${c.hint}${r}` : `${c.hint}${r}${s}`;
  const bindOffset = (hint: string, expr: string): Offset => offsetOf(w.bind(hint, expr));

  /**
   * The offsets of `count` consecutive indices from `start` along `axis`, plus `base`, bound
   * once: one variable and static steps for a strided axis, one variable per index for a
   * table.
   */
  const hoist = (axis: Axis, start: string, count: number, hint: string, base: Term[]): Offset[] => {
    if (typeof axis === "number") {
      const o = bindOffset(hint, affine(...base, [start, axis]));
      return Array.from({ length: count }, (_, r) => ({ vars: o.vars, c: o.c + r * axis }));
    }
    const b0 = affine(...base);
    return Array.from({ length: count }, (_, r) =>
      bindOffset(`${hint}${r}`, `${b0 === "0" ? "" : `${b0} + `}${axis.table}[${affine([start, 1], r)}]`));
  };

  /** Inside the contraction loop: the hoisted offsets moved to step k along `axis`. */
  const step = (hoisted: Offset[], axis: Axis, k: string, hint: string): Offset[] => {
    const first = hoisted[0]!;
    const kTerm = typeof axis === "number" ? affine([k, axis]) : `${axis.table}[${k}]`;
    if (kTerm === "0") return hoisted;
    if (hoisted.every((o) => o.vars.join() === first.vars.join())) {
      // one variable for the step's first element; the others are static steps from it
      const o = bindOffset(hint, first.vars.length === 0 ? kTerm : `${first.vars.join(" + ")} + ${kTerm}`);
      return hoisted.map((h) => ({ vars: o.vars, c: o.c + h.c }));
    }
    const kOff = bindOffset(hint, kTerm);
    return hoisted.map((h) => addOffsets(h, kOff));
  };

  const init = (i: string, j: string, r: number, s: number): string =>
    g.accumulate || !g.bias ? "0" : `${g.bias.buf}[${g.bias.along === "row" ? affine([i, 1], r) : affine([j, 1], s)}]`;
  const op = g.accumulate ? "+=" : "=";

  /** C's offsets: per row (with a strided column axis folded in), then per column. */
  const cOffsets = (i: string, j: string, rows: number, cols: number): Offset[][] => {
    const strided = typeof c.cs === "number";
    const cRows = hoist(c.rs, i, rows, `${c.hint}At`, strided ? [[c.at, 1], [j, c.cs as number]] : [[c.at, 1]]);
    const cCols = strided
      ? Array.from({ length: cols }, (_, s) => offsetOf("0", s * (c.cs as number)))
      : hoist(c.cs, j, cols, `${c.hint}Col`, []);
    return cRows.map((row) => cCols.map((col) => addOffsets(row, col)));
  };

  /** A block of an outer product: each element of C is one product, stored at once. */
  const outerBlock = (i: string, aRows: Offset[], j: string, rows: number, cols: number): void => {
    const bCols = hoist(b.cs, j, cols, `${b.hint}At`, [[b.at, 1]]);
    const bVal = bCols.map((o, s) => w.bind(`${b.hint}${s}`, `${b.buf}[${showOffset(o)}]`));
    const cAt = cOffsets(i, j, rows, cols);
    for (let r = 0; r < rows; r++) {
      const aVal = w.bind(`${a.hint}${r}`, `${a.buf}[${showOffset(aRows[r]!)}]`);
      for (let s = 0; s < cols; s++) {
        const bias = init(i, j, r, s);
        w.line(`${c.buf}[${showOffset(cAt[r]![s]!)}] ${op} ${bias === "0" ? "" : `${bias} + `}${aVal} * ${bVal[s]};`);
      }
    }
  };

  const block = (i: string, aRows: Offset[], j: string, rows: number, cols: number): void => {
    if (K === 1) {
      outerBlock(i, aRows, j, rows, cols);
      return;
    }
    const bCols = hoist(b.cs, j, cols, `${b.hint}At`, [[b.at, 1]]);
    const acc = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, s) => {
      const name = w.fresh(accName(r, s));
      w.line(`let ${name} = ${init(i, j, r, s)};`);
      return name;
    }));
    w.loop(g.names[2], K, (k) => {
      const aK = step(aRows, a.cs, k, `${a.hint}K`);
      const bK = step(bCols, b.rs, k, `${b.hint}K`);
      const bVal = bK.map((o, s) => w.bind(`${b.hint}${s}`, `${b.buf}[${showOffset(o)}]`));
      for (let r = 0; r < rows; r++) {
        const aVal = w.bind(`${a.hint}${r}`, `${a.buf}[${showOffset(aK[r]!)}]`);
        for (let s = 0; s < cols; s++) w.line(`${acc[r]![s]} += ${aVal} * ${bVal[s]};`);
      }
    });
    const cAt = cOffsets(i, j, rows, cols);
    for (let r = 0; r < rows; r++) {
      for (let s = 0; s < cols; s++) w.line(`${c.buf}[${showOffset(cAt[r]![s]!)}] ${op} ${acc[r]![s]};`);
    }
  };

  /** The blocks of rows [i, i + rows): A's row offsets are hoisted out of the column loop. */
  const rowTile = (i: string, rows: number): void => {
    const aRows = hoist(a.rs, i, rows, `${a.hint}At`, [[a.at, 1]]);
    w.loop(g.names[1], NB, (j) => block(i, aRows, j, rows, NR), NR, NB === N);
    if (NB < N) w.block(() => block(i, aRows, String(NB), rows, N - NB));
  };
  w.line(`// ${g.what}`);
  if (typeof M !== "number") {
    // blocks of MR rows while they fit, then the leftover rows one at a time
    const MB = w.bind(`${g.names[0]}Blocks`, `${M} - (${IDENTIFIER.test(M) ? M : `(${M})`} % ${MR})`);
    w.loop(g.names[0], { lo: "0", hi: MB }, (i) => rowTile(i, MR), MR);
    w.loop(g.names[0], { lo: MB, hi: M }, (i) => rowTile(i, 1));
    return;
  }
  const MB = M - (M % MR);
  w.loop(g.names[0], MB, (i) => rowTile(i, MR), MR, MB === M);
  if (MB < M) w.block(() => rowTile(String(MB), M - MB));
}
