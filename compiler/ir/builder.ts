// Builds IR: hands out value ids, appends instructions to the innermost open block, and
// checks each simple op's result type with inferType (an internal error if it fails: the
// front end checks user-facing shapes itself, before it calls the builder).

import { inferType } from "../ops/index.js";
import { Dim } from "./dims.js";
import {
  AttrsOf, Block, F64, ForInstr, IfInstr, Instr, Loc, SimpleInstr, SimpleOp, Type, Value, ValueId, WhileInstr,
} from "./types.js";

export class IRError extends Error {}

export interface Builder {
  /** A fresh value of the given type. */
  value(type: Type, name?: string): Value;
  /** Appends a simple op and returns its result. */
  emit<K extends SimpleOp>(op: K, args: readonly Value[], attrs: AttrsOf<K>, name?: string): Value;
  const(value: number): Value;
  /** Appends an already-built instruction (if/for, or a clone; a pushed const counts for constantOf). */
  push(instr: Instr): void;
  /** Runs `fill` with a new open block and returns the instructions it appended. */
  block(fill: () => void): Instr[];
  /** The location new instructions get. */
  loc: Loc;
  /** The origin new simple instructions get (see SimpleInstr.origin), if any. */
  origin: ValueId | undefined;
  /** The next value id (so a later builder over the same function continues numbering). */
  readonly nextId: number;
  /** The instructions appended outside any block() call. */
  root(): Instr[];
  /** The number a `const` this builder emitted holds (undefined for any other value). */
  constantOf(v: Value): number | undefined;
}

export function createBuilder(firstId = 0, loc: Loc = { line: 0, col: 0 }): Builder {
  let next = firstId;
  const stack: Instr[][] = [[]];
  const constants = new Map<ValueId, number>();
  const b: Builder = {
    loc,
    origin: undefined,
    get nextId() {
      return next;
    },
    value(type, name) {
      const v: Value = name === undefined ? { id: next++ as ValueId, type } : { id: next++ as ValueId, type, name };
      return v;
    },
    emit(op, args, attrs, name) {
      const t = inferType(op, args.map((a) => a.type), attrs);
      if (typeof t === "string") throw new IRError(`building ${op}: ${t}`);
      const result = b.value(t, name);
      const instr = (b.origin === undefined
        ? { op, result, args: [...args], attrs, loc: b.loc }
        : { op, result, args: [...args], attrs, loc: b.loc, origin: b.origin }) as SimpleInstr;
      if (op === "const") constants.set(result.id, (attrs as { value: number }).value);
      stack[stack.length - 1]!.push(instr);
      return result;
    },
    const(value) {
      return b.emit("const", [], { value });
    },
    push(instr) {
      // (a pushed constant is known as one emitted here: rules fold on it)
      if (instr.op === "const") constants.set(instr.result.id, (instr.attrs as { value: number }).value);
      stack[stack.length - 1]!.push(instr);
    },
    block(fill) {
      stack.push([]);
      try {
        fill();
      } catch (e) {
        stack.pop();
        throw e;
      }
      return stack.pop()!;
    },
    root() {
      return stack[0]!;
    },
    constantOf: (v) => constants.get(v.id),
  };
  return b;
}

export function makeBlock(params: readonly Value[], instrs: readonly Instr[], yields: readonly Value[]): Block {
  return { params: [...params], instrs: [...instrs], yields: [...yields] };
}

export function makeIf(results: readonly Value[], cond: Value, thenB: Block, elseB: Block, loc: Loc): IfInstr {
  return { op: "if", results: [...results], cond, then: thenB, else: elseB, loc };
}

export function makeFor(
  results: readonly Value[], start: Value, end: Value, step: number,
  init: readonly Value[], body: Block, loc: Loc,
): ForInstr {
  return { op: "for", results: [...results], start, end, step, init: [...init], body, loc };
}

export function makeWhile(results: readonly Value[], init: readonly Value[], cond: Block, body: Block, loc: Loc): WhileInstr {
  return { op: "while", results: [...results], init: [...init], cond, body, loc };
}

export { F64 };

/** The value of a dimension at run time: a constant, or arithmetic on `size` symbols. */
export function dimValue(b: Builder, d: Dim): Value {
  if (typeof d === "number") return b.const(d);
  let total: Value | undefined;
  for (const t of d.terms) {
    let term: Value | undefined = t.coef === 1 && t.syms.length ? undefined : b.const(t.coef);
    for (const s of t.syms) {
      const v = b.emit("size", [], { name: s }, s);
      term = term ? b.emit("mul", [term, v], {}) : v;
    }
    total = total ? b.emit("add", [total, term!], {}) : term!;
  }
  return total!;
}
