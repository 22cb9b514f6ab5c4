// Prints one IR function body as TypeScript statements over flat typed arrays, following
// the decisions of the analyses that ran before it: uses.ts (liveness), storage.ts (which
// buffer holds each tensor, in place / copy / swap, fusion), naming.ts (every name) and the
// op table (each op's JavaScript, expressions.ts). What is left here is writing statements:
//
// - a buffer is declared where it is first filled, or before the outermost loop around that
//   (nothing allocates inside a loop); in the allocation-free form it is a workspace slot;
// - elementwise ops are one loop each, with the ops fused into them written inside it;
// - loop-carried scalars are `let` variables assigned at the end of each iteration (a dead
//   `let` variable before the loop is taken over instead of copied); carried tensors update
//   in place, swap buffers or copy, as storage.ts decided;
// - a reused buffer is cleared for a `zeros` unless every element is written before it is
//   read (coveredZeros.ts);
// - a comment before each group of statements names the source line it comes from.

import { Block, ForInstr, IfInstr, Instr, SimpleInstr, Type, Value, ValueId, WhileInstr, resultsOf, sizeOf } from "../../ir/types.js";
import { Dim, jsDim } from "../../ir/dims.js";
import { NameScope } from "../names.js";
import { Expressions, formatNumber, paren } from "./expressions.js";
import { BodyNames } from "./naming.js";
import { BodySettings } from "./settings.js";
import { coveredZeros } from "./coveredZeros.js";
import { regionsOf } from "../../ir/walk.js";
import { BufferClass, StoragePlan, isElementwise } from "./storage.js";
import { Uses } from "./uses.js";

export { commentText, formatNumber } from "./expressions.js";

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
  exported(v: Value): string;
}

type Comment = (line: number) => string;

export function createBodyPrinter(body: Block, uses: Uses, plan: StoragePlan, names: NameScope, settings: BodySettings): BodyPrinter {
  return new Printer(body, uses, plan, names, settings);
}

class Printer implements BodyPrinter {
  private readonly n: BodyNames;
  private readonly x: Expressions;
  private readonly arrayType: string;
  /** The top-level instruction before which each class is declared (one first filled inside a region). */
  private readonly declareBefore = new Map<number, BufferClass[]>();
  private readonly declared = new Set<BufferClass>();
  /** The stacks of tapes made inside loops, allocated once before the loop and emptied where the tape is made. */
  private readonly hoistedStacks = new Set<ValueId>();
  private readonly exportedClasses = new Set<BufferClass>();
  /** Values in a `let` variable of their own, which a loop may take over. */
  private readonly letVars = new Set<ValueId>();
  /** While printing a backward function: the values that come from the tape. */
  private readonly forward = new Set<ValueId>();
  private fromTape = false;
  /**
   * The zeros overwritten before they are read: a reused buffer needs no fill; and the
   * accumulations that first write the elements of a zeros, printed as stores (coveredZeros.ts).
   */
  private readonly covered: ReadonlySet<ValueId>;
  private readonly firstWrites: ReadonlySet<SimpleInstr>;

  constructor(
    private readonly body: Block,
    private readonly uses: Uses,
    private readonly plan: StoragePlan,
    names: NameScope,
    private readonly settings: BodySettings,
  ) {
    this.n = new BodyNames(body, uses, plan, names, settings);
    this.x = new Expressions(this.n, uses, settings.keep ?? new Set(), new Set(body.yields.map((y) => y.id)), (d) => this.dim(d), (name) => settings.helpers.rule(name));
    this.arrayType = settings.arrayType;
    ({ covered: this.covered, firstWrites: this.firstWrites } = coveredZeros(body, uses));
    for (const cls of plan.classes) {
      if (cls.targets) continue;
      let pos: { block: Block; index: number } | undefined = uses.defAt.get(cls.home.id);
      if (!pos || pos.block === body) continue;
      while (pos.block !== body) {
        const parent: { block: Block; index: number } = uses.parentOf.get(pos.block)!;
        pos = { block: parent.block, index: parent.index };
      }
      this.declareBefore.set(pos.index, [...(this.declareBefore.get(pos.index) ?? []), cls]);
    }
  }

  // ----------------------------------------------------------------- the interface
  nameOf = (v: Value): string => this.n.nameOf(v);
  inOutput = (v: Value, target: string): boolean => this.n.clsOf(v)?.output === target;
  suggest = (v: Value, name: string): void => this.n.suggest(v, name);
  bind = (v: Value, name: string): void => this.n.bind(v, name);

  print(from: number, to: number, comment: Comment, fromTape = false): string[] {
    if (fromTape) {
      this.fromTape = true;
      for (const instr of this.body.instrs.slice(0, from)) resultsOf(instr).forEach((r) => this.forward.add(r.id));
      this.body.params.forEach((p) => this.forward.add(p.id));
      this.letVars.clear();
    }
    const out: string[] = [];
    this.range(this.body, from, to, out, comment, -1);
    return out;
  }

  exported(v: Value): string {
    const name = this.n.nameOf(v);
    if (v.type.kind !== "tensor") return name;
    // a buffer handed to the caller must be theirs alone: not a parameter, a view, a
    // reference, a tape's buffer, or one already handed out
    const cls = this.n.clsOf(v);
    if (!cls || cls.targets !== undefined || this.exportedClasses.has(cls) || (this.fromTape && cls.members.some((m) => this.forward.has(m.id)))) {
      return `${name}.slice()`;
    }
    this.exportedClasses.add(cls);
    return name;
  }

  // ----------------------------------------------------------------- buffers
  /** A dimension as a JavaScript expression of this function's sizes. */
  private dim(d: Dim): string {
    return jsDim(d, this.settings.dimName);
  }

  /** The number of elements of a value, as JavaScript. */
  private size(t: Type): string {
    return t.kind === "tensor" ? this.dim(sizeOf(t.shape)) : "1";
  }

  private tsType(t: Type): string {
    if (t.kind === "tape") return this.settings.helpers.nameOf("Stack");
    return t.kind === "tensor" ? this.arrayType : t.kind === "bool" ? "boolean" : "number";
  }

  /** The declaration of a class's variable: its buffer allocated (zeros, unless from a workspace). */
  private declaration(cls: BufferClass): string {
    this.declared.add(cls);
    const ws = this.settings.workspace;
    const size = this.dim(cls.size);
    const alloc = cls.output ?? (ws ? ws.slot(size, this.n.varOf(cls)) : `new ${this.arrayType}(${size})`);
    return `${cls.swapped ? "let" : "const"} ${this.n.varOf(cls)}: ${this.arrayType} = ${alloc};`;
  }

  /** Declares cls now unless it was hoisted; true if its buffer is freshly zeroed. */
  private ensureDeclared(cls: BufferClass, out: string[], block: Block): boolean {
    if (this.declared.has(cls)) return false;
    out.push(this.declaration(cls));
    return block === this.body && !this.settings.workspace && !cls.output;
  }

  // ----------------------------------------------------------------- statements
  private range(block: Block, from: number, to: number, out: string[], comment: Comment, line: number): void {
    let lastLine = line;
    for (let index = from; index < to; index++) {
      const instr = block.instrs[index]!;
      const before = out.length;
      if (block === this.body) {
        for (const cls of this.declareBefore.get(index) ?? []) if (!this.declared.has(cls)) out.push(this.declaration(cls));
        if (!this.settings.workspace) this.hoistStacks(instr, out);
      }
      this.instr(instr, block, index, out, comment, instr.loc.line > 0 ? instr.loc.line : lastLine);
      const l = instr.loc.line;
      if (out.length > before && l > 0 && l !== lastLine) {
        const c = comment(l);
        if (c) out.splice(before, 0, c);
        lastLine = l;
      }
    }
  }

  /**
   * A tape made in a loop body (an inner loop's, made again in every iteration of the outer
   * one) gets one stack before the loop, emptied each time (the allocation-free form's
   * workspace keeps its stacks from call to call in the same way).
   */
  private hoistStacks(instr: Instr, out: string[]): void {
    const visit = (b: Block): void => {
      for (const x of b.instrs) {
        if (x.op === "tape") {
          out.push(`const ${this.n.declare(x.result)} = ${this.settings.helpers.use("newStack")}();`);
          this.hoistedStacks.add(x.result.id);
        }
        regionsOf(x).forEach(visit);
      }
    };
    regionsOf(instr).forEach(visit);
  }

  private instr(instr: Instr, block: Block, index: number, out: string[], comment: Comment, line: number): void {
    if (instr.op === "if") return this.ifInstr(instr, block, index, out, comment, line);
    if (instr.op === "for" || instr.op === "while") return this.loopInstr(instr, block, index, out, comment, line);
    if (instr.result.type.kind === "tensor") return this.tensor(instr, block, out);
    if (instr.result.type.kind === "tape" || instr.op === "peek") return this.stackOp(instr, out);
    this.scalar(instr, block, index, out);
  }

  private scalar(instr: SimpleInstr, block: Block, index: number, out: string[]): void {
    const { n, x } = this;
    const r = instr.result;
    if (instr.op === "checkIndex" && instr.args.length === 3) {
      // before a loop of counter i from start up to end: a + i, for every i there (the first bad one reported)
      const [a, start, end] = instr.args.map((v) => n.nameOf(v)) as [string, string, string];
      const { size, message } = instr.attrs as { size: Dim; message: string };
      const L = this.dim(size);
      const lo = `${a} + ${start}`;
      const int = `((${lo}) | 0) === ${lo}`;
      out.push(`if (${start} < ${end} && !(${lo} >= 0 && ${a} + ${end} - 1 < ${L} && ${int})) throw new RangeError(${JSON.stringify(message)} + (${lo} < 0 || !(${int}) ? ${lo} : Math.max(${lo}, ${L})));`);
      n.bind(r, a);
      return;
    }
    if (instr.op === "checkIndex") {
      const i = n.nameOf(instr.args[0]!); // (a variable, see Expressions.canInline, or a literal)
      const { size, message } = instr.attrs as { size: Dim; message: string };
      if (/^\d+$/.test(i)) {
        // a literal index into a symbolic dimension: the size must exceed it
        out.push(`if (!(${i} < ${this.dim(size)})) throw new RangeError(${JSON.stringify(message + i)});`);
        n.bind(r, i);
        return;
      }
      out.push(`if (!(${i} >= 0 && ${i} < ${this.dim(size)} && (${i} | 0) === ${i})) throw new RangeError(${JSON.stringify(message)} + ${i});`);
      n.bind(r, i);
      return;
    }
    if (instr.op === "size") {
      n.inline.set(r.id, { expr: this.settings.dimName((instr.attrs as { name: string }).name), depth: 0 });
      return;
    }
    const expr = x.scalar(instr);
    if (expr === null) {
      const k = this.settings.kernels.kernelFor(instr, this.settings.layerOf?.(instr));
      out.push(`const ${n.declare(r)} = ${k.name}(${[...instr.args.map((a) => n.nameOf(a)), ...k.sizes.map(this.settings.dimName)].join(", ")});`);
    } else if (x.canInline(instr, block, index)) {
      const depth = 1 + Math.max(0, ...instr.args.map((a) => x.depthOf(a)));
      n.inline.set(r.id, { expr: instr.op === "const" ? expr : `(${expr})`, depth });
    } else {
      out.push(`const ${n.declare(r)} = ${expr};`);
    }
  }

  private tensor(instr: SimpleInstr, block: Block, out: string[]): void {
    const { n } = this;
    const r = instr.result;
    const st = n.storageOf(r)!;
    if (st.kind === "fused" || instr.op === "reshape") return;
    const arg = (k: number): string => n.nameOf(instr.args[k]!);
    const cls = n.clsOf(r);
    switch (instr.op) {
      case "zeros":
        if (!this.ensureDeclared(cls!, out, block) && !this.covered.has(r.id)) out.push(`${n.varOf(cls!)}.fill(0);`);
        return;
      case "broadcast":
        this.ensureDeclared(cls!, out, block);
        out.push(`${n.varOf(cls!)}.fill(${arg(0)});`);
        return;
      case "index":
        return this.partialIndex(instr, block, out);
      case "peek":
        return this.stackOp(instr, out, block);
      case "select":
        this.declared.add(cls!);
        out.push(`const ${n.varOf(cls!)} = ${paren(arg(0))} ? ${arg(1)} : ${arg(2)};`);
        return;
      case "store":
      case "accum":
        return this.update(instr, block, out);
    }
    if (isElementwise(instr)) return this.elementwise(instr, block, out);
    this.ensureDeclared(cls!, out, block);
    const k = this.settings.kernels.kernelFor(instr, this.settings.layerOf?.(instr));
    out.push(`${k.name}(${[...instr.args.map((a) => n.nameOf(a)), n.varOf(cls!), ...k.sizes.map(this.settings.dimName)].join(", ")});`);
  }

  /**
   * Stacks: every tape value of one chain (tape, push, drop, the loops that carry it) is one
   * stack object. A pushed tensor goes in element by element; a peeked one is a view of the
   * top elements (or a copy into its buffer in the allocation-free form).
   */
  private stackOp(instr: SimpleInstr, out: string[], block?: Block): void {
    const { n } = this;
    const r = instr.result;
    const h = this.settings.helpers;
    switch (instr.op) {
      case "tape": {
        if (this.hoistedStacks.has(r.id)) {
          out.push(`${n.nameOf(r)}.top = 0;`);
          return;
        }
        const name = n.declare(r);
        const ws = this.settings.workspace;
        if (ws) out.push(`const ${name} = ${ws.stack(name)};`, `${name}.top = 0;`);
        else out.push(`const ${name} = ${h.use("newStack")}();`);
        return;
      }
      case "push": {
        const [t, v] = instr.args as [Value, Value];
        const stack = n.nameOf(t);
        n.bind(r, stack);
        const x = n.nameOf(v);
        if (v.type.kind === "tensor") out.push(`${h.use("pushAll")}(${stack}, ${x});`);
        else out.push(`${h.use("push")}(${stack}, ${v.type.kind === "bool" ? `${paren(x)} ? 1 : 0` : x});`);
        return;
      }
      case "drop": {
        const stack = n.nameOf(instr.args[0]!);
        n.bind(r, stack);
        const of = (instr.attrs as { of: Type }).of;
        out.push(of.kind === "tensor" ? `${stack}.top -= ${this.size(of)};` : `${stack}.top--;`);
        return;
      }
      case "peek": {
        const stack = n.nameOf(instr.args[0]!);
        if (r.type.kind === "tensor") {
          const len = this.size(r.type);
          if (n.storageOf(r)!.kind === "view") {
            out.push(`const ${n.declare(r)} = ${stack}.data.subarray(${stack}.top - ${paren(len)}, ${stack}.top);`);
            return;
          }
          const cls = n.clsOf(r)!;
          this.ensureDeclared(cls, out, block!);
          const q = n.scope.fresh("q");
          const at = n.scope.fresh("at");
          out.push(`const ${at} = ${stack}.top - ${paren(len)};`);
          out.push(`for (let ${q} = 0; ${q} < ${len}; ${q}++) ${n.varOf(cls)}[${q}] = ${stack}.data[${at} + ${q}];`);
          return;
        }
        const top = `${stack}.data[${stack}.top - 1]!`;
        out.push(`const ${n.declare(r)} = ${r.type.kind === "bool" ? `${top} !== 0` : top};`);
        return;
      }
      default:
        throw new Error(`internal: ${instr.op} is not a stack op`);
    }
  }

  /** x[i...] of a sub-tensor: a subarray view, or a copy into a buffer (allocation-free form). */
  private partialIndex(instr: SimpleInstr, block: Block, out: string[]): void {
    const { n } = this;
    const r = instr.result;
    const off = this.x.flatIndex(instr.args[0]!, instr.args.slice(1));
    const len = this.size(r.type);
    const src = n.nameOf(instr.args[0]!);
    if (n.storageOf(r)!.kind === "view") {
      out.push(`const ${n.declare(r)} = ${src}.subarray(${off}, ${off === "0" ? "" : `${paren(off)} + `}${len});`);
      return;
    }
    const cls = n.clsOf(r)!;
    this.ensureDeclared(cls, out, block);
    const q = n.scope.fresh("q");
    out.push(`for (let ${q} = 0; ${q} < ${len}; ${q}++) ${n.varOf(cls)}[${q}] = ${src}[${off === "0" ? q : `${paren(off)} + ${q}`}];`);
  }

  private update(instr: SimpleInstr, block: Block, out: string[]): void {
    const { n } = this;
    const t = instr.args[0]!;
    const v = instr.args[instr.args.length - 1]!;
    const cls = n.clsOf(instr.result)!;
    if (!this.plan.inPlace.has(instr)) {
      this.ensureDeclared(cls, out, block);
      out.push(`${n.varOf(cls)}.set(${n.nameOf(t)});`);
    }
    const buf = n.varOf(cls);
    const off = this.x.flatIndex(t, instr.args.slice(1, -1));
    const store = instr.op === "store" || this.firstWrites.has(instr);
    if (v.type.kind === "f64") out.push(`${buf}[${off}] ${store ? "=" : "+="} ${n.nameOf(v)};`);
    else if (store) out.push(`${buf}.set(${n.nameOf(v)}, ${off});`);
    else {
      const k = n.scope.fresh("k");
      out.push(`for (let ${k} = 0; ${k} < ${this.size(v.type)}; ${k}++) ${buf}[${off === "0" ? k : `${paren(off)} + ${k}`}] += ${n.nameOf(v)}[${k}];`);
    }
  }

  private elementwise(instr: SimpleInstr, block: Block, out: string[]): void {
    const { n } = this;
    const cls = n.clsOf(instr.result)!;
    this.ensureDeclared(cls, out, block);
    const buf = n.varOf(cls);
    // --target wasm: relu and its adjoint over whole buffers (nothing fused into the loop) as a
    // WebAssembly SIMD kernel
    const whole = this.settings.kernels.elementwiseKernel(instr);
    if (whole !== undefined && instr.args.every((a) => n.storageOf(a)?.kind !== "fused")) {
      out.push(`${whole}(${[...instr.args.map((a) => n.nameOf(a)), buf].join(", ")});`);
      return;
    }
    const k = n.scope.fresh("k");
    const pre: string[] = [];
    const expr = n.inChild(() => this.x.elementOf(instr, k, pre));
    const len = this.size(instr.result.type);
    if (pre.length === 0) out.push(`for (let ${k} = 0; ${k} < ${len}; ${k}++) ${buf}[${k}] = ${expr};`);
    else out.push(`for (let ${k} = 0; ${k} < ${len}; ${k}++) {`, ...pre, `${buf}[${k}] = ${expr};`, "}");
  }

  private ifInstr(I: IfInstr, block: Block, _index: number, out: string[], comment: Comment, line: number): void {
    const { n } = this;
    const refs = this.plan.ifRefs.get(I) ?? [];
    // scalar results and references are let variables assigned in each branch
    const vars = I.results.map((r, k) => {
      if (r.type.kind !== "tensor") {
        const name = n.declare(r);
        this.letVars.add(r.id);
        out.push(`let ${name}: ${this.tsType(r.type)};`);
        return name;
      }
      const cls = n.clsOf(r)!;
      if (cls.targets) {
        this.declared.add(cls);
        out.push(`let ${n.varOf(cls)}: ${this.arrayType};`);
      } else if (!refs[k]) this.ensureDeclared(cls, out, block);
      return n.varOf(cls);
    });
    const branch = (sub: Block): string[] => n.inChild(() => {
      const lines: string[] = [];
      this.range(sub, 0, sub.instrs.length, lines, comment, line);
      sub.yields.forEach((y, k) => {
        const r = I.results[k]!;
        if (r.type.kind !== "tensor" || n.clsOf(r)!.targets) lines.push(`${vars[k]} = ${n.nameOf(y)};`);
        else if (!refs[k]) lines.push(`${vars[k]}.set(${n.nameOf(y)});`);
        // (else the yield is already in the result's buffer)
      });
      return lines;
    });
    const cond = n.nameOf(I.cond);
    const thenLines = branch(I.then);
    const elseLines = branch(I.else);
    if (thenLines.length === 0 && elseLines.length === 0) return;
    out.push(`if (${cond}) {`, ...thenLines, ...(elseLines.length ? ["} else {", ...elseLines] : []), "}");
  }

  private loopInstr(L: ForInstr | WhileInstr, block: Block, index: number, out: string[], comment: Comment, line: number): void {
    const { n } = this;
    const carried = L.op === "for" ? L.body.params.slice(1) : [...L.body.params];
    const shares = this.plan.sharesInit.get(L) ?? [];
    const claimed = new Set<ValueId>();
    const bounds = L.op === "for" ? new Set([L.start.id, L.end.id]) : new Set<ValueId>();
    const vars = carried.map((p, k) => {
      const init = L.init[k]!;
      const result = L.results[k]!;
      if (p.type.kind === "tape") {
        // a stack is one object through the loop
        const name = n.nameOf(init);
        n.bind(p, name);
        n.bind(result, name);
        if (L.op === "while") n.bind(L.cond.params[k]!, name);
        return name;
      }
      if (p.type.kind === "tensor") {
        const cls = n.clsOf(p)!;
        if (!shares[k]) {
          this.ensureDeclared(cls, out, block);
          out.push(`${n.varOf(cls)}.set(${n.nameOf(init)});`);
        }
        return n.varOf(cls);
      }
      // a scalar: take over a let variable that is dead from here on, else a new let
      const dead = !claimed.has(init.id) && !bounds.has(init.id) && !this.uses.liveAfter(init, block, index) && !this.uses.usedWithin(init, block, index);
      claimed.add(init.id);
      if (dead && this.letVars.has(init.id) && !(this.fromTape && this.forward.has(init.id))) {
        const name = n.jsName.get(init.id)!;
        n.bind(p, name);
        n.bind(result, name);
        this.letVars.add(p.id).add(result.id);
        return name;
      }
      const name = n.declare(p);
      n.bind(result, name);
      this.letVars.add(p.id).add(result.id);
      out.push(`let ${name}: ${this.tsType(p.type)} = ${n.nameOf(init)};`);
      return name;
    });
    if (L.op === "while") {
      L.cond.params.forEach((p, k) => n.bind(p, vars[k]!));
    }
    if (L.op === "for") {
      // (bounds are read once, before the loop, in the enclosing block's scope)
      const start = this.bound(L.start, "start", out);
      const end = this.bound(L.end, "end", out);
      n.inChild(() => this.loop(L, start, end, carried, vars, out, comment, line));
    } else n.inChild(() => this.whileLoop(L, carried, vars, out, comment, line));
  }

  /** A bound as a loop header reads it: a literal or a variable, else bound to a constant first. */
  private bound(v: Value, hint: string, out: string[]): string {
    const e = this.n.nameOf(v);
    if (/^\(?-?[\d.]+\)?$/.test(e) || /^[\p{ID_Start}$_][\p{ID_Continue}$]*$/u.test(e)) return e;
    const name = this.n.scope.fresh(hint);
    out.push(`const ${name} = ${e};`);
    return name;
  }

  private loop(L: ForInstr, start: string, end: string, carried: Value[], vars: string[], out: string[], comment: Comment, line: number): void {
    const { n } = this;
    const iv = L.body.params[0]!;
    const { step } = L;
    const i = n.declare(iv);
    const inc = step === 1 ? `${i}++` : step === -1 ? `${i}--` : step > 0 ? `${i} += ${step}` : `${i} -= ${-step}`;
    out.push(`for (let ${i} = ${start}; ${i} ${step > 0 ? "<" : ">"} ${end}; ${inc}) {`);
    const lines: string[] = [];
    this.range(L.body, 0, L.body.instrs.length, lines, comment, line);
    this.endOfIteration(L, carried, vars, lines);
    out.push(...lines, "}");
  }

  /** `while (cond) { body }`, or with statements computing the condition, `for (;;) { ...; if (!cond) break; body }`. */
  private whileLoop(L: WhileInstr, carried: Value[], vars: string[], out: string[], comment: Comment, line: number): void {
    const { n } = this;
    const condLines: string[] = [];
    this.range(L.cond, 0, L.cond.instrs.length, condLines, comment, line);
    const cond = n.nameOf(L.cond.yields[0]!);
    const lines: string[] = [];
    this.range(L.body, 0, L.body.instrs.length, lines, comment, line);
    this.endOfIteration(L, carried, vars, lines);
    if (condLines.length === 0) out.push(`while (${cond}) {`, ...lines, "}");
    else out.push("for (;;) {", ...condLines, `if (!${paren(cond)}) break;`, ...lines, "}");
  }

  /** The carried values for the next iteration: scalars assigned, tensors copied or swapped. */
  private endOfIteration(L: ForInstr | WhileInstr, carried: readonly Value[], vars: string[], lines: string[]): void {
    const { n } = this;
    const modes = this.plan.yieldMode.get(L) ?? [];
    // scalars first (their expressions may read buffers the swaps below exchange)
    const assigns = carried.map((p, k) => ({ p, k, rhs: n.nameOf(L.body.yields[k]!) }))
      .filter(({ p, k, rhs }) => p.type.kind !== "tensor" && p.type.kind !== "tape" && rhs !== vars[k]);
    const readsCarried = assigns.length > 1 &&
      assigns.some(({ rhs }) => vars.some((v) => new RegExp(`(^|[^\\p{ID_Continue}$])${escapeRe(v)}($|[^\\p{ID_Continue}$])`, "u").test(rhs)));
    if (readsCarried) {
      const temps = assigns.map(({ k, rhs }) => {
        const t = n.scope.fresh(`${vars[k]}Next`);
        lines.push(`const ${t} = ${rhs};`);
        return { k, t };
      });
      temps.forEach(({ k, t }) => lines.push(`${vars[k]} = ${t};`));
    } else {
      assigns.forEach(({ k, rhs }) => lines.push(`${vars[k]} = ${rhs};`));
    }
    carried.forEach((p, k) => {
      if (p.type.kind !== "tensor") return;
      const y = n.nameOf(L.body.yields[k]!);
      if (modes[k] === "copy") {
        lines.push(n.clsOf(L.body.yields[k]!)?.targets ? `if (${y} !== ${vars[k]}) ${vars[k]}.set(${y});` : `${vars[k]}.set(${y});`);
      } else if (modes[k] === "swap") {
        const t = n.scope.fresh("swap");
        lines.push(`const ${t} = ${vars[k]};`, `${vars[k]} = ${y};`, `${y} = ${t};`);
      }
    });
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
