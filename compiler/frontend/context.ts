// The state of lowering one entry point (as React Compiler's HIRBuilder): the IR builder,
// what is known statically about values (constants, constant conditions), the helpers being
// inlined, the alias analysis, and where each index came from in the source.
//
// SSA construction works on the TypeScript checker's symbols, so scoping and shadowing are
// exactly TypeScript's: an environment (Env) maps each variable's symbol to its current
// value, and statement lowering forks and merges environments (statements.ts, loops.ts).

import { type TS } from "./ts.js";
import { Builder, IRError, createBuilder, dimValue } from "../ir/builder.js";
import { Dim, dimAdd, dimMul, dimSub } from "../ir/dims.js";
import { AttrsOf, Func, Loc, SimpleOp, Type, Value, ValueId } from "../ir/types.js";
import { evaluate, familyOf, inferType } from "../ops/index.js";
import { Aliases, Env } from "./aliases.js";
import { ModuleScope } from "./moduleScope.js";
import { Source } from "./source.js";

export type { Env };

/** Where the indices of an index/store/accum instruction were written: for diagnostics and run-time checks. */
export interface IndexSite {
  /** The indexed expression (`x` in `x[i][j]`). */
  readonly tensor: TS.Expression;
  /** One expression per index. */
  readonly indices: readonly TS.Expression[];
}

/** A loop being lowered: its label, and the flags a break or a continue inside it sets. */
export interface LoopFrame {
  readonly node: TS.ForStatement | TS.WhileStatement | TS.DoStatement;
  readonly label?: string;
  /** 1 once a break left the loop. */
  readonly broke: TS.Symbol;
  /** 1 once a continue (or a break) skips the rest of this iteration. */
  readonly skip: TS.Symbol;
}

/** A function being lowered (the entry or an inlined helper): where a return inside a loop goes. */
export interface FunctionFrame {
  /** 1 once a return inside a loop ran; `value` is what it returned. */
  readonly returned: TS.Symbol;
  readonly value: TS.Symbol;
  /** The declared return type, if any. */
  readonly type: Type | null;
  /** How many loops enclose the function's body (a helper inlined in a loop body). */
  readonly loopDepth: number;
}

export class Lowering {
  readonly b: Builder;
  readonly src: Source;
  readonly aliases: Aliases;
  /** Values known at compile time. */
  private readonly consts = new Map<ValueId, number>();
  /** Conditions known at compile time. */
  private readonly conds = new Map<ValueId, boolean>();
  /** Values that are sizes: polynomials in the size symbols (x.length, n - 1, a type parameter). */
  private readonly dims = new Map<ValueId, Dim>();
  /** The functions being lowered, outermost first: the entry, then inlined helpers. */
  readonly callStack: TS.FunctionDeclaration[];
  /** The source of every index operand, by the result of the instruction that takes it. */
  readonly sites = new Map<ValueId, IndexSite>();
  /** The loops being lowered, innermost last. */
  readonly loops: LoopFrame[] = [];
  /** The functions being lowered, innermost last. */
  readonly frames: FunctionFrame[] = [];
  /** The module's constant arrays as tensors, built at the top of the entry. */
  readonly arrays = new Map<TS.Symbol, Value>();
  /** The derivative rules of helper calls (`@vjp`, `@jvp`), lowered at each call: the entry's Func.rules. */
  readonly rules: Func[] = [];

  /** Is the statement being lowered inside a loop of the current function? */
  inLoop(): boolean {
    return this.loops.length > this.frames[this.frames.length - 1]!.loopDepth;
  }

  constructor(readonly scope: ModuleScope, entry: TS.FunctionDeclaration, loc: Loc) {
    this.src = scope.src;
    this.b = createBuilder(0, loc);
    this.aliases = new Aliases(this.src);
    this.callStack = [entry];
  }

  symbolOf(node: TS.Node): TS.Symbol | undefined {
    return this.src.symbolOf(node);
  }

  fail(node: TS.Node, code: Parameters<Source["fail"]>[1], message: string, hint: string): never {
    return this.src.fail(node, code, message, hint);
  }

  constant(value: number): Value {
    const v = this.b.const(value);
    this.consts.set(v.id, value);
    return v;
  }

  known(v: Value): number | undefined {
    return this.consts.get(v.id);
  }

  /** The size a value holds, if it is one: a constant, a size symbol, or arithmetic on them. */
  dimOf(v: Value): Dim | undefined {
    return this.consts.get(v.id) ?? this.dims.get(v.id);
  }

  /** Declares that v holds the size d (an integer parameter n holds the size n). */
  setDim(v: Value, d: Dim): void {
    this.dims.set(v.id, d);
  }

  /** The value of a size: a constant, or the size symbol's value at run time. */
  sizeValue(d: Dim): Value {
    if (typeof d === "number") return this.constant(d);
    const v = dimValue(this.b, d);
    this.dims.set(v.id, d);
    return v;
  }

  staticBool(v: Value): boolean | undefined {
    return this.conds.get(v.id);
  }

  /**
   * Emits a simple op: a shape error becomes a diagnostic at `at`, a scalar op on constants
   * becomes the constant (with the op table's semantics, as the folding pass computes it),
   * and a comparison or boolean op on known values is remembered as a static condition.
   */
  emit<K extends SimpleOp>(op: K, args: readonly Value[], attrs: AttrsOf<K>, at: TS.Node, vname?: string): Value {
    const t = inferType(op, args.map((a) => a.type), attrs);
    if (typeof t === "string") return this.fail(at, "ADG1008", t + ".", shapeHint(op));
    if (t.kind === "f64" && args.length > 0 && args.every((a) => this.known(a) !== undefined)) {
      const folded = evaluate(op, args.map((a) => this.known(a)!));
      if (typeof folded === "number") return this.constant(folded);
    }
    let r: Value;
    try {
      r = this.b.emit(op, args, attrs, vname);
    } catch (e) {
      if (e instanceof IRError) return this.fail(at, "ADG1008", e.message, shapeHint(op));
      throw e;
    }
    if (op === "add" || op === "sub" || op === "mul") {
      // sizes are integer polynomials: x.length * 0.5 is a number, not a size
      const [x, y] = args.map((a) => this.dimOf(a));
      const integral = (d: Dim | undefined): d is Dim => d !== undefined && (typeof d !== "number" || Number.isInteger(d));
      if (integral(x) && integral(y)) this.dims.set(r.id, op === "add" ? dimAdd(x, y) : op === "sub" ? dimSub(x, y) : dimMul(x, y));
    }
    if (t.kind === "bool") {
      const family = familyOf(op);
      if (family === "compare") {
        const [x, y] = args.map((a) => this.known(a));
        if (x !== undefined && y !== undefined) this.conds.set(r.id, evaluate(op, [x, y]) as boolean);
      } else if (family === "logic") {
        const vals = args.map((a) => this.staticBool(a));
        if (vals.every((v) => v !== undefined)) {
          this.conds.set(r.id, op === "not" ? !vals[0] : op === "and" ? vals[0]! && vals[1]! : vals[0]! || vals[1]!);
        }
      }
    }
    return r;
  }
}

function shapeHint(op: string): string {
  switch (op) {
    case "conv2d":
      return "conv2d takes x [C, H, W] or [N, C, H, W] and w [O, C, KH, KW]; C must agree.";
    case "linear":
      return "linear takes x [in] or [N, in] and w [out, in] (y = W x + b).";
    case "add":
    case "sub":
    case "mul":
    case "div":
      return "Elementwise operations take two tensors of one shape, or a tensor and a number.";
    default:
      return "Check the shapes of the arguments.";
  }
}
