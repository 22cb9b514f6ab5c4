// Emits the body of one IR function as TypeScript statements over flat typed arrays.
//
// Values map to JavaScript variables named after the user's variables. Scalars used once
// in the same block are inlined into their use. Tensors are buffers; `store`/`accum`
// update a buffer in place when the buffer is owned (not a parameter, view or alias) and
// the old version is never read again, and copy it otherwise (see `inPlace`). Loop-carried
// values are `let` variables assigned at the end of each iteration; if results are `let`
// variables assigned in each branch.

import { Block, ForInstr, IfInstr, Instr, SimpleInstr, Type, Value, ValueId, isSimple, sizeOf } from "../ir/types.js";
import { OPS } from "../ops/index.js";
import { NameScope } from "./names.js";
import { KernelRegistry } from "./kernels/registry.js";

export interface EmitSettings {
  /** "Float64Array" or "Float32Array". */
  readonly arrayType: string;
  /** Source lines of the DSL file, for comments. */
  readonly sourceLines: readonly string[];
  /**
   * When set, buffers come from a workspace allocated once instead of `new` per call (the
   * allocation-free form): `slot` returns an expression for a buffer of its own.
   */
  readonly workspace?: {
    slot(size: number, hint: string): string;
    /** Caller-owned buffers to compute some final values into directly (the gradients). */
    readonly outputs?: ReadonlyMap<ValueId, string>;
  };
  /** Module-level kernels for the layer primitives. */
  readonly kernels: KernelRegistry;
}

/** Where a value is used: the blocks containing the use, innermost first, with indices. */
interface UseSite {
  readonly path: readonly Position[];
}
interface Position {
  readonly block: Block;
  /** Index of the instruction in block (block.instrs.length for a yield). */
  readonly index: number;
}

export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "(-Infinity)";
  if (Object.is(v, -0)) return "(-0)";
  return v < 0 ? `(${String(v)})` : String(v);
}

/** Sanitizes source text for a `//` comment (no line terminators can end it early). */
export function commentText(s: string): string {
  // no line terminator may end a line comment early, and no "*/" a block comment
  return s.replace(/[\r\n\u2028\u2029]/g, " ").replace(/\*\//g, "* /").trim();
}

export interface FunctionEmitter {
  /** The JavaScript name of a value (after emitting its definition). */
  nameOf(v: Value): string;
  /** Was v computed directly into its caller-owned output buffer (no copy needed)? */
  inOutput(v: Value): boolean;
  /** Suggests a name for a value the IR left unnamed (d<param> for a gradient). */
  suggest(v: Value, name: string): void;
  /**
   * Emits instructions (a slice of the top-level block) and returns the lines. With
   * `fromTape`, the values defined before `from` arrive from a tape in a new function:
   * they are read-only there (the tape may be used again) and no longer `let` variables.
   */
  emitTop(from: number, to: number, comment: (line: number) => string, fromTape?: boolean): string[];
  /** Declares names for the given values up front (parameters). */
  bind(v: Value, name: string): void;
  /** An expression for a value that the caller may keep (a copy if the buffer is shared). */
  exported(v: Value): string;
}

/**
 * Prepares emission of `body` (one function's top-level block). `names` is the scope
 * the function's identifiers come from.
 */
export function createFunctionEmitter(
  body: Block,
  names: NameScope,
  settings: EmitSettings,
  /** Values that must stay variables (those the backward pass reads from the forward pass). */
  keep: ReadonlySet<ValueId> = new Set(),
): FunctionEmitter {
  const { arrayType } = settings;
  /** The innermost JavaScript block's names (a loop body or branch opens a child scope). */
  let scope = names;
  const inChildScope = <T>(fill: () => T): T => {
    const saved = scope;
    scope = scope.child();
    try {
      return fill();
    } finally {
      scope = saved;
    }
  };
  const jsName = new Map<ValueId, string>();
  /** Inlinable scalar expressions, by value. */
  const inline = new Map<ValueId, string>();
  const defOf = new Map<ValueId, SimpleInstr>();
  const uses = new Map<ValueId, UseSite[]>();
  const defBlock = new Map<ValueId, Block>();
  /** Buffers that we may mutate in place (not parameters, views or aliases). */
  const owned = new Set<ValueId>();
  const parentOf = new Map<Block, { block: Block; index: number; loop: boolean }>();
  const returned = new Set<ValueId>();
  /** Is v read inside the regions of the instruction at (block, index)? */
  const usedWithin = (v: Value, block: Block, index: number): boolean =>
    (uses.get(v.id) ?? []).some((u) => u.path[0]!.block !== block && u.path.some((p) => p.block === block && p.index === index));
  /** Views and aliases (reshape, partial index, select) -> the values whose buffers they share. */
  const aliasRoots = new Map<ValueId, Value[]>();
  const aliasesOf = new Map<ValueId, Value[]>();
  const addAlias = (r: Value, sources: readonly Value[]): void => {
    const roots = new Set<Value>();
    for (const src of sources) {
      roots.add(src);
      for (const root of aliasRoots.get(src.id) ?? []) roots.add(root);
    }
    aliasRoots.set(r.id, [...roots]);
    for (const root of roots) aliasesOf.set(root.id, [...(aliasesOf.get(root.id) ?? []), r]);
  };
  /** Is neither v nor any view or alias of its buffer read after (block, index)? */
  const deadAfter = (v: Value, block: Block, index: number, exceptYield = false): boolean =>
    !usedAfter(v, block, index, exceptYield) && (aliasesOf.get(v.id) ?? []).every((a) => !usedAfter(a, block, index, exceptYield));
  /** Variables declared with let, which a loop may take over as its carried variable. */
  const letVars = new Set<ValueId>(); // values held in a let variable of their own
  const exportedOnce = new Set<ValueId>();

  // ----------------------------------------------------------------- analysis
  const analyze = (block: Block, path: Position[]): void => {
    for (const p of block.params) defBlock.set(p.id, block);
    const use = (v: Value, index: number): void => {
      const list = uses.get(v.id) ?? [];
      list.push({ path: [{ block, index }, ...path] });
      uses.set(v.id, list);
    };
    block.instrs.forEach((instr, index) => {
      if (isSimple(instr)) {
        instr.args.forEach((a) => use(a, index));
        defOf.set(instr.result.id, instr);
        defBlock.set(instr.result.id, block);
      } else if (instr.op === "if") {
        use(instr.cond, index);
        for (const sub of [instr.then, instr.else]) {
          parentOf.set(sub, { block, index, loop: false });
          analyze(sub, [{ block, index }, ...path]);
        }
        instr.results.forEach((r) => defBlock.set(r.id, block));
      } else {
        instr.init.forEach((a) => use(a, index));
        parentOf.set(instr.body, { block, index, loop: true });
        analyze(instr.body, [{ block, index }, ...path]);
        instr.results.forEach((r) => defBlock.set(r.id, block));
      }
    });
    block.yields.forEach((y) => use(y, block.instrs.length));
  };
  analyze(body, []);
  body.yields.forEach((y) => returned.add(y.id));

  /** Is v read anywhere after position (block, index)? Loops count every use inside them. */
  const usedAfter = (v: Value, block: Block, index: number, exceptYield = false): boolean => {
    const list = uses.get(v.id) ?? [];
    let b: Block = block;
    let i = index;
    for (;;) {
      for (const u of list) {
        for (const pos of u.path) {
          if (pos.block !== b) continue;
          if (pos.index > i && !(exceptYield && pos.index === b.instrs.length && b === block)) return true;
        }
      }
      if (defBlock.get(v.id) === b) return false;
      const parent = parentOf.get(b);
      if (!parent) return false;
      if (parent.loop) return true; // defined outside a loop that reads it: used again next iteration
      b = parent.block;
      i = parent.index;
    }
  };

  const isTensor = (t: Type): boolean => t.kind === "tensor";
  const size = (t: Type): number => (t.kind === "tensor" ? sizeOf(t.shape) : 1);


  // ----------------------------------------------------------------- naming
  const suggested = new Map<ValueId, string>();
  const hintOf = (v: Value, instr?: SimpleInstr): string => {
    if (v.name) return v.name;
    const hint = suggested.get(v.id);
    if (hint) return hint;
    const opName = instr && OPS[instr.op].name;
    if (opName) return opName;
    return isTensor(v.type) ? "buf" : "t";
  };
  const nameOf = (v: Value): string => {
    const inl = inline.get(v.id);
    if (inl !== undefined) return inl;
    const n = jsName.get(v.id);
    if (n === undefined) throw new Error(`internal: value %${v.id} has no name yet`);
    return n;
  };
  const declare = (v: Value, instr?: SimpleInstr): string => {
    const n = scope.fresh(hintOf(v, instr));
    jsName.set(v.id, n);
    return n;
  };

  // ----------------------------------------------------------------- index arithmetic
  const strides = (shape: readonly number[]): number[] => {
    const s = new Array<number>(shape.length).fill(1);
    for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1]! * shape[d + 1]!;
    return s;
  };
  const flatIndex = (t: Value, idx: readonly Value[]): string => {
    const shape = (t.type as { shape: readonly number[] }).shape;
    const st = strides(shape);
    let constant = 0;
    const terms: string[] = [];
    idx.forEach((v, d) => {
      const def = defOf.get(v.id);
      if (def?.op === "const") {
        constant += (def.attrs as { value: number }).value * st[d]!;
        return;
      }
      const e = nameOf(v);
      terms.push(st[d] === 1 ? e : `${paren(e)} * ${st[d]}`);
    });
    if (constant !== 0 || terms.length === 0) terms.push(String(constant));
    return terms.join(" + ");
  };
  const paren = (e: string): string => (/^[\p{ID_Continue}$.]+$/u.test(e) ? e : `(${e})`);

  // ----------------------------------------------------------------- expressions
  /** A scalar expression for a simple op, or null if the op needs statements. */
  const scalarExpr = (instr: SimpleInstr): string | null => {
    const op = instr.op;
    if (op === "const") return formatNumber((instr.attrs as { value: number }).value);
    if (instr.result.type.kind === "tensor") return null;
    if (op === "index" && instr.result.type.kind === "f64") return `${nameOf(instr.args[0]!)}[${flatIndex(instr.args[0]!, instr.args.slice(1))}]`;
    const em = OPS[op].emit;
    if (em === "structural" || "kernel" in em || em.twice) return null;
    return em.js(instr.args.map((x) => paren(nameOf(x))));
  };
  /** The expression of an op whose JavaScript form reads an argument twice (x must be a variable). */
  const scalarTwice = (x: string, op: SimpleInstr["op"]): string | null => {
    const em = OPS[op].emit;
    return em !== "structural" && !("kernel" in em) && em.twice ? em.js([x]) : null;
  };
  /** The expression for one element of an elementwise op on tensors. */
  const elementwise = (op: SimpleInstr["op"], xs: readonly string[]): string => {
    const em = OPS[op].emit;
    if (em === "structural" || "kernel" in em) throw new Error(`internal: no elementwise form for ${op}`);
    return em.js(xs.map(paren));
  };

  // ----------------------------------------------------------------- statements
  const emitBlockInstrs = (block: Block, from: number, to: number, out: string[], comment: (line: number) => string): void => {
    let lastLine = -1;
    for (let index = from; index < to; index++) {
      const instr = block.instrs[index]!;
      const line = instr.loc.line;
      const before = out.length;
      emitInstr(instr, block, index, out, comment);
      if (out.length > before && line > 0 && line !== lastLine) {
        const c = comment(line);
        if (c) out.splice(before, 0, c);
        lastLine = line;
      }
    }
  };

  const canInline = (instr: SimpleInstr, block: Block, index: number): boolean => {
    const v = instr.result;
    if (instr.op === "const") return true; // literals are written wherever they are used
    if (v.type.kind === "tensor" || returned.has(v.id)) return false;
    if (keep.has(v.id)) return false;
    const list = uses.get(v.id) ?? [];
    if (list.length !== 1 || list[0]!.path[0]!.block !== block) return false;
    // only across straight-line code: no loop, branch or buffer update between the
    // definition and the use may change a variable the expression reads
    // (buffer updates cannot affect it: inlined reads are only of buffers never updated in place)
    const useAt = list[0]!.path[0]!.index;
    for (let n = index + 1; n < useAt; n++) if (!isSimple(block.instrs[n]!)) return false;
    // an op that reads its argument more than once would evaluate the expression again
    const user = block.instrs[useAt];
    if (user && isSimple(user) && (user.op === "checkIndex" || scalarTwice("x", user.op) !== null)) return false;
    // a read from a buffer that may be updated in place must happen where it stands
    if (instr.op === "index" && (owned.has(instr.args[0]!.id) || aliasRoots.has(instr.args[0]!.id))) return false;
    return true;
  };

  const ws = settings.workspace;
  /** A buffer of n elements with arbitrary contents. */
  const alloc = (n: number, hint: string): string => (ws ? ws.slot(n, hint) : `new ${arrayType}(${n})`);
  /** The caller's buffer for a final value computed at the top level, else a new buffer. */
  const computedInOutput = new Set<ValueId>();
  const outputOr = (r: Value, block: Block, hint: string): string => {
    const target = block === body ? ws?.outputs?.get(r.id) : undefined;
    if (target === undefined) return alloc(size(r.type), hint);
    computedInOutput.add(r.id);
    return target;
  };
  /** A buffer of n zeros. */
  const allocZeros = (n: number, hint: string): string => (ws ? `${ws.slot(n, hint)}.fill(0)` : `new ${arrayType}(${n})`);
  /** An expression for a copy of buffer x (of n elements) that nothing else refers to. */
  const copyOf = (x: string, n: number, hint: string): string => {
    if (!ws) return `${x}.slice()`;
    const slot = ws.slot(n, hint);
    return `(${slot}.set(${x}), ${slot})`;
  };

  const emitInstr = (instr: Instr, block: Block, index: number, out: string[], comment: (line: number) => string): void => {
    if (instr.op === "if") return emitIf(instr, block, index, out, comment);
    if (instr.op === "for") return emitFor(instr, block, index, out, comment);
    const r = instr.result;
    const op = instr.op;
    // scalar expressions
    const twice = r.type.kind === "f64" && scalarTwice("x", op) !== null ? scalarTwice(nameOf(instr.args[0]!), op) : null;
    const expr = twice ?? scalarExpr(instr);
    if (expr !== null && r.type.kind !== "tensor") {
      if (twice === null && canInline(instr, block, index)) {
        inline.set(r.id, op === "const" ? expr : `(${expr})`);
        return;
      }
      out.push(`const ${declare(r, instr)} = ${expr};`);
      return;
    }
    const arg = (k: number): string => nameOf(instr.args[k]!);
    switch (op) {
      case "zeros": {
        const n = declare(r, instr);
        owned.add(r.id);
        letVars.add(r.id);
        out.push(`let ${n}: ${arrayType} = ${allocZeros(size(r.type), n)};`);
        return;
      }
      case "broadcast": {
        const n = declare(r, instr);
        owned.add(r.id);
        letVars.add(r.id);
        out.push(`let ${n}: ${arrayType} = ${alloc(size(r.type), n)}.fill(${arg(0)});`);
        return;
      }
      case "reshape":
        jsName.set(r.id, arg(0)); // same buffer, a new shape
        addAlias(r, [instr.args[0]!]);
        return;
      case "index": {
        // a partial index: a view of the row-major block
        const t = instr.args[0]!;
        const off = flatIndex(t, instr.args.slice(1));
        const n = declare(r, instr);
        const len = size(r.type);
        if (ws) {
          // allocation-free: copy the block into a buffer of its own (a view would allocate)
          owned.add(r.id);
          const q = scope.fresh("q");
          const base = off === "0" ? q : `${paren(off)} + ${q}`;
          out.push(`const ${n} = ${alloc(len, n)};`, `for (let ${q} = 0; ${q} < ${len}; ${q}++) ${n}[${q}] = ${arg(0)}[${base}];`);
          return;
        }
        addAlias(r, [t]);
        out.push(`const ${n} = ${arg(0)}.subarray(${off}, ${off === "0" ? "" : `${paren(off)} + `}${len});`);
        return;
      }
      case "checkIndex": {
        // the index is a variable here (never an inlined expression: see canInline)
        const x = arg(0);
        const { size: n, message } = instr.attrs as { size: number; message: string };
        out.push(`if (!(${x} >= 0 && ${x} < ${n} && (${x} | 0) === ${x})) throw new RangeError(${JSON.stringify(message)} + ${x});`);
        jsName.set(r.id, x);
        return;
      }
      case "select": {
        jsName.set(r.id, declare(r, instr));
        if (r.type.kind === "tensor") addAlias(r, [instr.args[1]!, instr.args[2]!]);
        out.push(`const ${jsName.get(r.id)} = ${paren(arg(0))} ? ${arg(1)} : ${arg(2)};`);
        return;
      }
      case "store":
      case "accum":
        return emitUpdate(instr, block, index, out);
    }
    const family = OPS[op].family;
    if (r.type.kind === "tensor" && (family === "unary" || family === "binary")) {
      const n = declare(r, instr);
      owned.add(r.id);
      const k = scope.fresh("k");
      const xs = instr.args.map((a) => (a.type.kind === "tensor" ? `${nameOf(a)}[${k}]` : nameOf(a)));
      out.push(`const ${n} = ${outputOr(r, block, n)};`);
      const twiceForm = scalarTwice("x", op);
      if (twiceForm !== null) {
        const x = scope.fresh("x");
        out.push(`for (let ${k} = 0; ${k} < ${size(r.type)}; ${k}++) {`, `const ${x} = ${xs[0]};`, `${n}[${k}] = ${scalarTwice(x, op)};`, "}");
      } else {
        out.push(`for (let ${k} = 0; ${k} < ${size(r.type)}; ${k}++) ${n}[${k}] = ${elementwise(op, xs)};`);
      }
      return;
    }
    const em = OPS[op].emit;
    if (em === "structural" || !("kernel" in em)) throw new Error(`internal: no code generator for ${op} on ${r.type.kind}`);
    const n = declare(r, instr);
    const args = instr.args.map((a) => nameOf(a));
    if (em.js && r.type.kind === "f64") {
      // a kernel op on numbers is one expression, written in place
      out.push(`let ${n} = 0;`, `${n} = ${em.js(args)};`);
      return;
    }
    const fn = settings.kernels.kernelFor(instr);
    if (r.type.kind === "tensor") {
      owned.add(r.id);
      out.push(`const ${n} = ${outputOr(r, block, n)};`, `${fn}(${[...args, n].join(", ")});`);
    } else {
      out.push(`const ${n} = ${fn}(${args.join(", ")});`);
    }
  };

  /** May the buffer of t be updated in place by the instruction at (block, index)? */
  const inPlace = (t: Value, block: Block, index: number): boolean => owned.has(t.id) && deadAfter(t, block, index);

  const emitUpdate = (instr: SimpleInstr, block: Block, index: number, out: string[]): void => {
    const t = instr.args[0]!;
    const idx = instr.args.slice(1, -1);
    const v = instr.args[instr.args.length - 1]!;
    const r = instr.result;
    let buf: string;
    if (inPlace(t, block, index)) {
      buf = nameOf(t);
      jsName.set(r.id, buf);
    } else {
      buf = declare(r, instr);
      out.push(`const ${buf} = ${copyOf(nameOf(t), size(t.type), buf)};`);
    }
    owned.add(r.id);
    const off = flatIndex(t, idx);
    const op = instr.op === "store" ? "=" : "+=";
    if (v.type.kind === "f64") {
      out.push(`${buf}[${off}] ${op} ${nameOf(v)};`);
    } else if (instr.op === "store") {
      out.push(`${buf}.set(${nameOf(v)}, ${off});`);
    } else {
      const k = scope.fresh("k");
      const n = size(v.type);
      const base = off === "0" ? k : `${paren(off)} + ${k}`;
      out.push(`for (let ${k} = 0; ${k} < ${n}; ${k}++) ${buf}[${base}] += ${nameOf(v)}[${k}];`);
    }
  };

  /** The right-hand side that gives a carried / if-result variable its own buffer. */
  const takeOwnership = (v: Value, block: Block, index: number, claimed: Set<ValueId>, exceptYield: boolean): string => {
    const name = nameOf(v);
    if (v.type.kind !== "tensor") return name;
    const ok = owned.has(v.id) && !claimed.has(v.id) && deadAfter(v, block, index, exceptYield);
    claimed.add(v.id);
    return ok ? name : copyOf(name, size(v.type), name);
  };

  const tsType = (t: Type): string => (t.kind === "tensor" ? arrayType : t.kind === "bool" ? "boolean" : "number");

  const emitIf = (instr: IfInstr, block: Block, index: number, out: string[], comment: (line: number) => string): void => {
    const vars = instr.results.map((r) => declare(r));
    instr.results.forEach((r) => owned.add(r.id));
    instr.results.forEach((r) => letVars.add(r.id));
    vars.forEach((n, k) => out.push(`let ${n}: ${tsType(instr.results[k]!.type)};`));
    const branch = (sub: Block): string[] => inChildScope(() => {
      const lines: string[] = [];
      emitBlockInstrs(sub, 0, sub.instrs.length, lines, comment);
      const claimed = new Set<ValueId>();
      sub.yields.forEach((y, k) => {
        // the yielded buffer must be exclusively the result's: not used after the if, not yielded twice
        const inside = defBlock.get(y.id) === sub;
        const rhs = inside ? takeOwnership(y, sub, sub.instrs.length, claimed, true) : takeOwnership(y, block, index, claimed, false);
        lines.push(`${vars[k]} = ${rhs};`);
      });
      return lines;
    });
    const cond = nameOf(instr.cond);
    const thenLines = branch(instr.then);
    const elseLines = branch(instr.else);
    out.push(`if (${cond}) {`, ...thenLines, elseLines.length ? "} else {" : "}", ...(elseLines.length ? [...elseLines, "}"] : []));
  };

  const emitFor = (instr: ForInstr, block: Block, index: number, out: string[], comment: (line: number) => string): void => {
    const [iv, ...carried] = instr.body.params as [Value, ...Value[]];
    const claimed = new Set<ValueId>();
    const vars = carried.map((p, k) => {
      const init = instr.init[k]!;
      const result = instr.results[k]!;
      owned.add(p.id);
      owned.add(result.id);
      const initName = nameOf(init);
      // A let variable that is dead after the loop becomes the loop's own variable.
      // (and not read inside the loop either, where the loop variable changes under it)
      const dead = !claimed.has(init.id) && deadAfter(init, block, index) && !usedWithin(init, block, index);
      claimed.add(init.id);
      if (dead && letVars.has(init.id) && (p.type.kind !== "tensor" || owned.has(init.id))) {
        jsName.set(p.id, initName);
        jsName.set(result.id, initName);
        letVars.add(result.id);
        return initName;
      }
      const n = declare(p);
      jsName.set(result.id, n);
      letVars.add(result.id);
      // the loop variable must own its buffer: copy unless init is owned and dead from here on
      const rhs = p.type.kind === "tensor" && !(dead && owned.has(init.id)) ? copyOf(initName, size(p.type), n) : initName;
      out.push(`let ${n}: ${tsType(p.type)} = ${rhs};`);
      return n;
    });
    inChildScope(() => emitLoop(instr, carried, vars, iv, out, comment));
  };

  const emitLoop = (instr: ForInstr, carried: Value[], vars: string[], iv: Value, out: string[], comment: (line: number) => string): void => {
    const i = declare(iv);
    const { start, end, step } = instr;
    const cmp = step > 0 ? "<" : ">";
    const inc = step === 1 ? `${i}++` : step === -1 ? `${i}--` : step > 0 ? `${i} += ${step}` : `${i} -= ${-step}`;
    out.push(`for (let ${i} = ${formatNumber(start)}; ${i} ${cmp} ${formatNumber(end)}; ${inc}) {`);
    const body: string[] = [];
    emitBlockInstrs(instr.body, 0, instr.body.instrs.length, body, comment);
    // end of iteration: assign the carried variables (through temporaries when one reads another)
    const sub = instr.body;
    const yclaimed = new Set<ValueId>();
    const rhs = sub.yields.map((y, k) => {
      const inside = defBlock.get(y.id) === sub;
      if (y.type.kind !== "tensor" || nameOf(y) === vars[k]) return nameOf(y);
      // allocation-free: the loop variable keeps its own buffer; copy the new value into it
      if (ws) return `${vars[k]}.set(${nameOf(y)})`;
      if (inside && !carried.some((p) => p.id === y.id)) return takeOwnership(y, sub, sub.instrs.length, yclaimed, true);
      return copyOf(nameOf(y), size(y.type), vars[k]!);
    });
    const assigns = vars.map((n, k) => ({ n, rhs: rhs[k]! })).filter(({ n, rhs }) => n !== rhs);
    const needsTemps = assigns.length > 1 && assigns.some(({ rhs }) => vars.some((n) => new RegExp(`(^|[^\\p{ID_Continue}$])${escapeRe(n)}($|[^\\p{ID_Continue}$])`, "u").test(rhs)));
    const assign = (n: string, rhs: string): string => (rhs.startsWith(`${n}.set(`) ? `${rhs};` : `${n} = ${rhs};`);
    if (needsTemps) {
      const temps = assigns.map(({ n, rhs }) => {
        const t = scope.fresh(`${n}Next`);
        const y = sub.yields[vars.indexOf(n)]!;
        const value = rhs.startsWith(`${n}.set(`) ? copyOf(nameOf(y), size(y.type), t) : rhs;
        body.push(`const ${t} = ${value};`);
        return { n, t, set: rhs.startsWith(`${n}.set(`) };
      });
      temps.forEach(({ n, t, set }) => body.push(set ? `${n}.set(${t});` : `${n} = ${t};`));
    } else {
      assigns.forEach(({ n, rhs }) => body.push(assign(n, rhs)));
    }
    out.push(...body, "}");
  };

  return {
    nameOf,
    inOutput: (v) => computedInOutput.has(v.id),
    suggest: (v, name) => {
      if (!suggested.has(v.id)) suggested.set(v.id, name);
    },
    bind: (v, name) => {
      jsName.set(v.id, name);
    },
    emitTop(from, to, comment, fromTape = false) {
      if (fromTape) {
        letVars.clear();
        for (const p of body.params) owned.delete(p.id);
        for (const instr of body.instrs.slice(0, from)) {
          for (const r of isSimple(instr) ? [instr.result] : instr.results) owned.delete(r.id);
        }
      }
      const out: string[] = [];
      emitBlockInstrs(body, from, to, out, comment);
      return out;
    },
    exported(v) {
      const n = nameOf(v);
      if (v.type.kind !== "tensor") return n;
      // a buffer handed to the caller must be theirs alone
      const count = body.yields.filter((y) => y.id === v.id).length;
      if (!owned.has(v.id) || count > 1 || exportedOnce.has(v.id)) return `${n}.slice()`;
      exportedOnce.add(v.id);
      return n;
    },
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
