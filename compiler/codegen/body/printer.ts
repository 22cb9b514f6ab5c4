// Prints one IR function body as TypeScript statements over flat typed arrays, following
// the decisions of the analyses that ran before it: uses.ts (liveness), storage.ts (which
// buffer holds each tensor, in place / copy / swap, fusion) and the op table (each op's
// JavaScript). What is left here is naming and writing:
//
// - Values are named after the user's variables (an adjoint after its primal: dh4), and a
//   buffer class is one variable, so an in-place chain y, y2, y3 is one `y`.
// - Scalars used once in the same straight-line code are inlined into their use, up to a
//   bounded depth (deep programs must not become deep expressions).
// - Elementwise ops are one loop each, with the ops fused into them written inside it.
// - Loop-carried scalars are `let` variables assigned at the end of each iteration; a dead
//   `let` variable before the loop is taken over instead of copied.
// - A comment before each group of statements names the source line it comes from.

import { Block, ForInstr, IfInstr, Instr, SimpleInstr, Type, Value, ValueId, isSimple, resultsOf } from "../../ir/types.js";
import { OPS } from "../../ops/index.js";
import { BodySettings } from "./settings.js";
import { NameScope } from "../names.js";
import { BufferClass, StoragePlan, isElementwise } from "./storage.js";
import { Uses } from "./uses.js";

export interface BodyPrinter {
  /** The JavaScript expression of a value (after printing its definition). */
  nameOf(v: Value): string;
  /** Was v computed directly into its caller-owned output buffer (no copy needed)? */
  inOutput(v: Value, target: string): boolean;
  /** Suggests a name for a value the IR left unnamed (d<param> for a gradient). */
  suggest(v: Value, name: string): void;
  /** Declares the name of a value bound outside the body (a parameter). */
  bind(v: Value, name: string): void;
  /**
   * Prints instructions [from, to) of the top-level block. `comment` gives the comment for a
   * source line; with `fromTape`, the values defined before `from` arrive from a tape: they
   * are read-only constants there.
   */
  print(from: number, to: number, comment: (line: number) => string, fromTape?: boolean): string[];
  /** An expression for a value the caller may keep (a copy if its buffer is shared or read-only). */
  exported(v: Value, readonlyBefore?: number): string;
}

/** Scalar expressions nest at most this deep before they get a variable of their own. */
const MAX_INLINE_DEPTH = 6;

export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "(-Infinity)";
  if (Object.is(v, -0)) return "(-0)";
  return v < 0 ? `(${String(v)})` : String(v);
}

/** Sanitizes source text for a `//` comment (no line terminator can end it early, no "*\/" a block comment). */
export function commentText(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]/g, " ").replace(/\*\//g, "* /").trim();
}

const paren = (e: string): string => (/^[\p{ID_Continue}$.]+$/u.test(e) ? e : `(${e})`);

export function createBodyPrinter(body: Block, uses: Uses, plan: StoragePlan, names: NameScope, settings: BodySettings): BodyPrinter {
  const { arrayType } = settings;
  const ws = settings.workspace;
  const keep = settings.keep ?? new Set<ValueId>();
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

  // ----------------------------------------------------------------- names
  const jsName = new Map<ValueId, string>();
  const inline = new Map<ValueId, { expr: string; depth: number }>();
  const classVar = new Map<BufferClass, string>();
  const suggested = new Map<ValueId, string>();
  const returned = new Set(body.yields.map((y) => y.id));
  const exportedClasses = new Set<BufferClass>();
  /** Values in a `let` variable of their own, which a loop may take over. */
  const letVars = new Set<ValueId>();
  /** Values defined before this id come from a tape (read-only) while printing a backward function. */
  let tapeBefore = -1;
  const fromTapeValue = (v: Value): boolean => tapeBefore >= 0 && isForward(v);
  const forwardIds = new Set<ValueId>();
  const isForward = (v: Value): boolean => forwardIds.has(v.id);

  const hintOf = (v: Value, depth = 0): string => {
    if (v.name) return v.name;
    const s = suggested.get(v.id);
    if (s) return s;
    const primal = settings.adjoints?.get(v.id);
    if (primal !== undefined && depth < 4) {
      const p = uses.defOf.get(primal);
      const pv = p?.result ?? body.params.find((q) => q.id === primal);
      const pn = pv ? knownName(pv) ?? hintOf(pv, depth + 1) : undefined;
      if (pn) return `d${pn}`;
    }
    const def = uses.defOf.get(v.id);
    // a reshape is its source under another shape
    if (def?.op === "reshape" && depth < 8) return knownName(def.args[0]!) ?? hintOf(def.args[0]!, depth + 1);
    // a layer's output, after the layer (conv1Out: the kernel is conv1)
    const layer = def && v.type.kind === "tensor" && settings.layerOf?.(def);
    if (layer && OPS[def.op].vjp !== "adjointOnly") return `${layer}Out`;
    const op = def?.op;
    const opName = op && OPS[op].name;
    if (opName) return opName;
    return v.type.kind === "tensor" ? "buf" : "t";
  };
  const storageOf = (v: Value) => plan.storage.get(v.id);
  /** The name v already has, if any. */
  const knownName = (v: Value): string | undefined => {
    const n = jsName.get(v.id);
    if (n !== undefined) return n;
    const s = storageOf(v);
    return s?.kind === "buffer" ? classVar.get(s.cls) : undefined;
  };
  const clsOf = (v: Value): BufferClass | undefined => {
    const s = storageOf(v);
    return s?.kind === "buffer" ? s.cls : undefined;
  };
  const varOf = (cls: BufferClass): string => {
    let n = classVar.get(cls);
    if (n === undefined) {
      n = names.freshHere(hintOf(cls.home)); // at the function's level: the buffer outlives blocks
      classVar.set(cls, n);
    }
    return n;
  };
  const nameOf = (v: Value): string => {
    const inl = inline.get(v.id);
    if (inl) return inl.expr;
    const n = jsName.get(v.id);
    if (n !== undefined) return n;
    const s = storageOf(v);
    if (s?.kind === "buffer") return varOf(s.cls);
    if (s?.kind === "view" && uses.defOf.get(v.id)?.op === "reshape") return nameOf(s.of);
    throw new Error(`internal: value %${v.id} has no name yet`);
  };
  const declare = (v: Value): string => {
    const n = scope.fresh(hintOf(v));
    jsName.set(v.id, n);
    return n;
  };

  // ----------------------------------------------------------------- buffers
  const size = (t: Type): number => (t.kind === "tensor" ? t.shape.reduce((a, d) => a * d, 1) : 1);
  /** The top-level instruction before which each class is declared (a class first defined inside a region). */
  const declareBefore = new Map<number, BufferClass[]>();
  const declared = new Set<BufferClass>();
  for (const cls of plan.classes) {
    if (cls.targets) continue;
    let pos: { block: Block; index: number } | undefined = uses.defAt.get(cls.home.id);
    if (!pos || pos.block === body) continue;
    while (pos.block !== body) {
      const parent: { block: Block; index: number } = uses.parentOf.get(pos.block)!;
      pos = { block: parent.block, index: parent.index };
    }
    const list = declareBefore.get(pos.index) ?? [];
    list.push(cls);
    declareBefore.set(pos.index, list);
  }
  const allocation = (cls: BufferClass): string =>
    cls.output ?? (ws ? ws.slot(cls.size, varOf(cls)) : `new ${arrayType}(${cls.size})`);
  /** The declaration of a class's variable (its buffer allocated: zeros, unless from a workspace). */
  const declaration = (cls: BufferClass): string => {
    declared.add(cls);
    return `${cls.swapped ? "let" : "const"} ${varOf(cls)}: ${arrayType} = ${allocation(cls)};`;
  };
  /** Declares cls now unless it was hoisted; true if its buffer is freshly zeroed. */
  const ensureDeclared = (cls: BufferClass, out: string[], block: Block): boolean => {
    if (declared.has(cls)) return false;
    out.push(declaration(cls));
    return block === body && !ws && !cls.output;
  };

  // ----------------------------------------------------------------- index arithmetic
  const flatIndex = (t: Value, idx: readonly Value[]): string => {
    const shape = (t.type as { shape: readonly number[] }).shape;
    const st = new Array<number>(shape.length).fill(1);
    for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1]! * shape[d + 1]!;
    let constant = 0;
    const terms: string[] = [];
    idx.forEach((v, d) => {
      const def = uses.defOf.get(v.id);
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

  // ----------------------------------------------------------------- scalar expressions
  const jsOf = (op: SimpleInstr["op"]): { js: (a: readonly string[]) => string; twice: boolean } | null => {
    const em = OPS[op].emit;
    if (em === "structural" || !em.js) return null;
    return { js: em.js, twice: "twice" in em && !!em.twice };
  };
  /** A scalar expression for a simple op, or null if it needs statements. */
  const scalarExpr = (instr: SimpleInstr): string | null => {
    const op = instr.op;
    if (op === "const") return formatNumber((instr.attrs as { value: number }).value);
    if (instr.result.type.kind === "tensor") return null;
    if (op === "index") return `${nameOf(instr.args[0]!)}[${flatIndex(instr.args[0]!, instr.args.slice(1))}]`;
    const j = jsOf(op);
    if (!j) return null;
    return j.js(instr.args.map((x) => (j.twice ? nameOf(x) : paren(nameOf(x)))));
  };
  const readsTwice = (instr: Instr): boolean => isSimple(instr) && (instr.op === "checkIndex" || !!jsOf(instr.op)?.twice);
  const depthOf = (v: Value): number => inline.get(v.id)?.depth ?? 0;

  const canInline = (instr: SimpleInstr, block: Block, index: number): boolean => {
    const v = instr.result;
    if (instr.op === "const") return true;
    if (v.type.kind === "tensor" || returned.has(v.id) || keep.has(v.id)) return false;
    const list = uses.usesOf.get(v.id) ?? [];
    if (list.length !== 1 || list[0]!.block !== block) return false;
    const useAt = list[0]!.index;
    for (let n = index + 1; n < useAt; n++) if (!isSimple(block.instrs[n]!)) return false;
    const user = block.instrs[useAt];
    if (user && readsTwice(user)) return false;
    // a read from a buffer that may be updated in place must happen where it stands
    if (instr.op === "index" && clsOf(instr.args[0]!)) return false;
    if (instr.op === "index" && storageOf(instr.args[0]!)?.kind === "view") return false;
    return 1 + Math.max(0, ...instr.args.map(depthOf)) <= MAX_INLINE_DEPTH;
  };

  // ----------------------------------------------------------------- elementwise loops
  /** The expression of element k of v (a fused op's computed inline; twice-read operands bound in `pre`). */
  const element = (v: Value, k: string, pre: string[]): string => {
    if (v.type.kind !== "tensor") return paren(nameOf(v));
    if (storageOf(v)?.kind !== "fused") return `${nameOf(v)}[${k}]`;
    return elementOf(uses.defOf.get(v.id)!, k, pre);
  };
  const elementOf = (instr: SimpleInstr, k: string, pre: string[]): string => {
    const j = jsOf(instr.op)!;
    const args = instr.args.map((a) => {
      const e = element(a, k, pre);
      if (!j.twice || /^[\p{ID_Continue}$]+$/u.test(e)) return e;
      const x = scope.fresh("x");
      pre.push(`const ${x} = ${e};`);
      return x;
    });
    return `(${j.js(args)})`;
  };
  const emitElementwise = (instr: SimpleInstr, out: string[], block: Block): void => {
    const cls = clsOf(instr.result)!;
    if (!plan.inPlace.has(instr)) ensureDeclared(cls, out, block);
    const n = varOf(cls);
    const k = scope.fresh("k");
    const pre: string[] = [];
    const expr = inChildScope(() => elementOf(instr, k, pre));
    const len = size(instr.result.type);
    if (pre.length === 0) out.push(`for (let ${k} = 0; ${k} < ${len}; ${k}++) ${n}[${k}] = ${expr};`);
    else out.push(`for (let ${k} = 0; ${k} < ${len}; ${k}++) {`, ...pre, `${n}[${k}] = ${expr};`, "}");
  };

  // ----------------------------------------------------------------- statements
  const emitRange = (block: Block, from: number, to: number, out: string[], comment: (line: number) => string, line: number): void => {
    let lastLine = line;
    for (let index = from; index < to; index++) {
      const instr = block.instrs[index]!;
      const before = out.length;
      if (block === body) for (const cls of declareBefore.get(index) ?? []) if (!declared.has(cls)) out.push(declaration(cls));
      emitInstr(instr, block, index, out, comment, instr.loc.line > 0 ? instr.loc.line : lastLine);
      const l = instr.loc.line;
      if (out.length > before && l > 0 && l !== lastLine) {
        const c = comment(l);
        if (c) out.splice(before, 0, c);
        lastLine = l;
      }
    }
  };

  const emitInstr = (instr: Instr, block: Block, index: number, out: string[], comment: (line: number) => string, line: number): void => {
    if (instr.op === "if") return emitIf(instr, block, index, out, comment, line);
    if (instr.op === "for") return emitFor(instr, block, index, out, comment, line);
    emitSimple(instr, block, index, out);
  };

  const emitSimple = (instr: SimpleInstr, block: Block, index: number, out: string[]): void => {
    const r = instr.result;
    const st = storageOf(r);
    if (st?.kind === "fused") return;
    if (r.type.kind !== "tensor") {
      if (instr.op === "checkIndex") {
        const x = nameOf(instr.args[0]!);
        const { size: n, message } = instr.attrs as { size: number; message: string };
        out.push(`if (!(${x} >= 0 && ${x} < ${n} && (${x} | 0) === ${x})) throw new RangeError(${JSON.stringify(message)} + ${x});`);
        jsName.set(r.id, x);
        return;
      }
      const expr = scalarExpr(instr);
      if (expr !== null) {
        if (canInline(instr, block, index)) {
          const depth = 1 + Math.max(0, ...instr.args.map(depthOf));
          inline.set(r.id, { expr: instr.op === "const" ? expr : `(${expr})`, depth });
        } else {
          out.push(`const ${declare(r)} = ${expr};`);
        }
        return;
      }
      const fn = settings.kernels.kernelFor(instr, settings.layerOf?.(instr));
      out.push(`const ${declare(r)} = ${fn}(${instr.args.map(nameOf).join(", ")});`);
      return;
    }
    emitTensor(instr, block, index, out);
  };

  const emitTensor = (instr: SimpleInstr, block: Block, index: number, out: string[]): void => {
    const r = instr.result;
    const arg = (k: number): string => nameOf(instr.args[k]!);
    const st = storageOf(r)!;
    switch (instr.op) {
      case "reshape":
        return;
      case "zeros": {
        const cls = clsOf(r)!;
        if (!ensureDeclared(cls, out, block)) out.push(`${varOf(cls)}.fill(0);`);
        return;
      }
      case "broadcast": {
        const cls = clsOf(r)!;
        ensureDeclared(cls, out, block);
        out.push(`${varOf(cls)}.fill(${arg(0)});`);
        return;
      }
      case "index": {
        const t = instr.args[0]!;
        const off = flatIndex(t, instr.args.slice(1));
        const len = size(r.type);
        if (st.kind === "view") {
          const n = declare(r);
          out.push(`const ${n} = ${arg(0)}.subarray(${off}, ${off === "0" ? "" : `${paren(off)} + `}${len});`);
          return;
        }
        const cls = clsOf(r)!;
        ensureDeclared(cls, out, block);
        const q = scope.fresh("q");
        const base = off === "0" ? q : `${paren(off)} + ${q}`;
        out.push(`for (let ${q} = 0; ${q} < ${len}; ${q}++) ${varOf(cls)}[${q}] = ${arg(0)}[${base}];`);
        return;
      }
      case "select": {
        out.push(`const ${varOf(clsOf(r)!)} = ${paren(arg(0))} ? ${arg(1)} : ${arg(2)};`);
        declared.add(clsOf(r)!);
        return;
      }
      case "store":
      case "accum":
        return emitUpdate(instr, block, out);
    }
    if (isElementwise(instr)) return emitElementwise(instr, out, block);
    const cls = clsOf(r)!;
    ensureDeclared(cls, out, block);
    const fn = settings.kernels.kernelFor(instr, settings.layerOf?.(instr));
    out.push(`${fn}(${[...instr.args.map(nameOf), varOf(cls)].join(", ")});`);
  };

  const emitUpdate = (instr: SimpleInstr, block: Block, out: string[]): void => {
    const t = instr.args[0]!;
    const idx = instr.args.slice(1, -1);
    const v = instr.args[instr.args.length - 1]!;
    const cls = clsOf(instr.result)!;
    if (!plan.inPlace.has(instr)) {
      ensureDeclared(cls, out, block);
      out.push(`${varOf(cls)}.set(${nameOf(t)});`);
    }
    const buf = varOf(cls);
    const off = flatIndex(t, idx);
    const op = instr.op === "store" ? "=" : "+=";
    if (v.type.kind === "f64") out.push(`${buf}[${off}] ${op} ${nameOf(v)};`);
    else if (instr.op === "store") out.push(`${buf}.set(${nameOf(v)}, ${off});`);
    else {
      const k = scope.fresh("k");
      const base = off === "0" ? k : `${paren(off)} + ${k}`;
      out.push(`for (let ${k} = 0; ${k} < ${size(v.type)}; ${k}++) ${buf}[${base}] += ${nameOf(v)}[${k}];`);
    }
  };

  const tsType = (t: Type): string => (t.kind === "tensor" ? arrayType : t.kind === "bool" ? "boolean" : "number");

  const emitIf = (I: IfInstr, block: Block, index: number, out: string[], comment: (line: number) => string, line: number): void => {
    const refs = plan.ifRefs.get(I) ?? [];
    // scalar results and references are let variables assigned in each branch
    const vars = I.results.map((r, k) => {
      if (r.type.kind !== "tensor") {
        const n = declare(r);
        letVars.add(r.id);
        out.push(`let ${n}: ${tsType(r.type)};`);
        return n;
      }
      const cls = clsOf(r)!;
      if (cls.targets) {
        declared.add(cls);
        out.push(`let ${varOf(cls)}: ${arrayType};`);
      } else if (!refs[k]) ensureDeclared(cls, out, block);
      return varOf(cls);
    });
    const branch = (sub: Block): string[] => inChildScope(() => {
      const lines: string[] = [];
      emitRange(sub, 0, sub.instrs.length, lines, comment, line);
      sub.yields.forEach((y, k) => {
        const r = I.results[k]!;
        if (r.type.kind !== "tensor") return void lines.push(`${vars[k]} = ${nameOf(y)};`);
        const cls = clsOf(r)!;
        if (cls.targets) lines.push(`${vars[k]} = ${nameOf(y)};`);
        else if (!refs[k]) lines.push(`${vars[k]}.set(${nameOf(y)});`);
        // (else the yield is already in the result's buffer)
      });
      return lines;
    });
    const cond = nameOf(I.cond);
    const thenLines = branch(I.then);
    const elseLines = branch(I.else);
    if (thenLines.length === 0 && elseLines.length === 0) return;
    out.push(`if (${cond}) {`, ...thenLines, elseLines.length ? "} else {" : "}", ...(elseLines.length ? [...elseLines, "}"] : []));
  };

  const emitFor = (L: ForInstr, block: Block, index: number, out: string[], comment: (line: number) => string, line: number): void => {
    const [iv, ...carried] = L.body.params as [Value, ...Value[]];
    const shares = plan.sharesInit.get(L) ?? [];
    const claimed = new Set<ValueId>();
    const vars = carried.map((p, k) => {
      const init = L.init[k]!;
      if (p.type.kind === "tensor") {
        const cls = clsOf(p)!;
        if (!shares[k]) {
          ensureDeclared(cls, out, block);
          out.push(`${varOf(cls)}.set(${nameOf(init)});`);
        }
        return varOf(cls);
      }
      // a scalar: take over a let variable that is dead from here on, else a new let
      const dead = !claimed.has(init.id) && !uses.liveAfter(init, block, index) && !uses.usedWithin(init, block, index);
      claimed.add(init.id);
      const result = L.results[k]!;
      if (dead && letVars.has(init.id) && !fromTapeValue(init)) {
        const n = jsName.get(init.id)!;
        jsName.set(p.id, n);
        jsName.set(result.id, n);
        letVars.add(p.id).add(result.id);
        return n;
      }
      const n = declare(p);
      jsName.set(result.id, n);
      letVars.add(p.id).add(result.id);
      out.push(`let ${n}: ${tsType(p.type)} = ${nameOf(init)};`);
      return n;
    });
    inChildScope(() => emitLoop(L, carried, vars, iv, out, comment, line));
  };

  const emitLoop = (L: ForInstr, carried: Value[], vars: string[], iv: Value, out: string[], comment: (line: number) => string, line: number): void => {
    const i = declare(iv);
    const { start, end, step } = L;
    const cmp = step > 0 ? "<" : ">";
    const inc = step === 1 ? `${i}++` : step === -1 ? `${i}--` : step > 0 ? `${i} += ${step}` : `${i} -= ${-step}`;
    out.push(`for (let ${i} = ${formatNumber(start)}; ${i} ${cmp} ${formatNumber(end)}; ${inc}) {`);
    const lines: string[] = [];
    emitRange(L.body, 0, L.body.instrs.length, lines, comment, line);
    const modes = plan.yieldMode.get(L) ?? [];
    // scalars first (their expressions may read buffers the swaps below exchange)
    const assigns = carried.map((p, k) => ({ p, k, rhs: nameOf(L.body.yields[k]!) }))
      .filter(({ p, k, rhs }) => p.type.kind !== "tensor" && rhs !== vars[k]);
    const readsCarried = assigns.length > 1 &&
      assigns.some(({ rhs }) => vars.some((n) => new RegExp(`(^|[^\\p{ID_Continue}$])${escapeRe(n)}($|[^\\p{ID_Continue}$])`, "u").test(rhs)));
    if (readsCarried) {
      const temps = assigns.map(({ k, rhs }) => {
        const t = scope.fresh(`${vars[k]}Next`);
        lines.push(`const ${t} = ${rhs};`);
        return { k, t };
      });
      temps.forEach(({ k, t }) => lines.push(`${vars[k]} = ${t};`));
    } else {
      assigns.forEach(({ k, rhs }) => lines.push(`${vars[k]} = ${rhs};`));
    }
    carried.forEach((p, k) => {
      if (p.type.kind !== "tensor") return;
      const y = L.body.yields[k]!;
      if (modes[k] === "copy") {
        const yc = clsOf(y);
        lines.push(yc?.targets ? `if (${nameOf(y)} !== ${vars[k]}) ${vars[k]}.set(${nameOf(y)});` : `${vars[k]}.set(${nameOf(y)});`);
      } else if (modes[k] === "swap") {
        const other = nameOf(y);
        const t = scope.fresh("swap");
        lines.push(`const ${t} = ${vars[k]};`, `${vars[k]} = ${other};`, `${other} = ${t};`);
      }
    });
    out.push(...lines, "}");
  };

  return {
    nameOf,
    inOutput: (v, target) => clsOf(v)?.output === target,
    suggest: (v, name) => {
      if (!suggested.has(v.id)) suggested.set(v.id, name);
    },
    bind: (v, name) => void jsName.set(v.id, name),
    print(from, to, comment, fromTape = false) {
      if (fromTape) {
        tapeBefore = from;
        for (const instr of body.instrs.slice(0, from)) resultsOf(instr).forEach((r) => forwardIds.add(r.id));
        body.params.forEach((p) => forwardIds.add(p.id));
        letVars.clear();
      }
      const out: string[] = [];
      emitRange(body, from, to, out, comment, -1);
      return out;
    },
    exported(v) {
      const n = nameOf(v);
      if (v.type.kind !== "tensor") return n;
      // a buffer handed to the caller must be theirs alone: not a parameter, a view, a
      // reference, a tape's buffer, or one already handed out
      const cls = clsOf(v);
      if (!cls || cls.targets !== undefined || exportedClasses.has(cls) || (tapeBefore >= 0 && cls.members.some(isForward))) {
        return `${n}.slice()`;
      }
      exportedClasses.add(cls);
      return n;
    },
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
