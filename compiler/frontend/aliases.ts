// Aliasing in the DSL run as-is. A DSL file runs under Node with tensors as nested arrays,
// where two variables can hold one array; the IR gives tensors value semantics. The two
// agree as long as no array that another live variable (or the caller) also holds is
// written into. This analysis tracks which JavaScript arrays each tensor value may be, and
// refuses (ADG1016) the writes where the two semantics would differ.

import { type TS } from "./ts.js";
import { Value, ValueId } from "../ir/types.js";
import { Source } from "./source.js";

export type Env = Map<TS.Symbol, Value | undefined>;

export class Aliases {
  /** Partial-index results: the tensor they are a view of in JavaScript. */
  private readonly viewOf = new Map<ValueId, Value>();
  /** Values bound to the entry's parameters, which must never be written into. */
  private readonly params = new Map<ValueId, Value>();
  /**
   * Tensor values that may be the same JavaScript array as other values (an if result that
   * is one of two arrays, a loop variable, a view): the arrays they may be. A value missing
   * here is its own array.
   */
  private readonly roots = new Map<ValueId, ReadonlySet<ValueId>>();
  /** Tensor values written into (the old versions of store/accum), in order. */
  private readonly written: ValueId[] = [];
  /** Each inlined helper's parameters: symbol -> the caller's value bound to it. */
  private readonly helperParams: Map<TS.Symbol, Value>[] = [];

  constructor(private readonly src: Source) {}

  addParam(v: Value): void {
    this.params.set(v.id, v);
  }

  rootsOf(v: Value): ReadonlySet<ValueId> {
    return this.roots.get(v.id) ?? new Set([v.id]);
  }

  /** r may be any of the arrays `from` may be. */
  merge(r: Value, from: readonly Value[]): void {
    if (r.type.kind !== "tensor") return;
    const all = new Set<ValueId>();
    for (const v of from) this.rootsOf(v).forEach((x) => all.add(x));
    this.roots.set(r.id, all);
  }

  /** r = t[i...] is a view of t. */
  view(r: Value, t: Value): void {
    this.viewOf.set(r.id, this.viewOf.get(t.id) ?? t);
    this.merge(r, [t]);
  }

  /** next = cur with an element written: the same array. */
  write(next: Value, cur: Value): void {
    this.merge(next, [cur]);
    this.written.push(cur.id);
  }

  enterHelper(bound: Map<TS.Symbol, Value>): void {
    this.helperParams.push(bound);
  }

  leaveHelper(): void {
    this.helperParams.pop();
  }

  /** Element writes must go into a fresh local tensor that nothing else refers to. */
  checkWritable(base: TS.Identifier, cur: Value, env: Env): void {
    const src = this.src;
    const baseSym = src.symbolOf(base);
    const helper = this.helperParams[this.helperParams.length - 1];
    const roots = this.rootsOf(cur);
    const param = this.params.get(cur.id);
    if ((param && param.name === base.text) || (baseSym && helper?.get(baseSym) === cur)) {
      src.fail(base, "ADG1016", `'${base.text}' is a parameter; writing into it would change the caller's array.`,
        `Make a new tensor: const out = zeros([...]) and write into out.`);
    }
    if (param) {
      src.fail(base, "ADG1016", `'${base.text}' holds the array of parameter '${param.name}'; writing into it would change the caller's array.`,
        `Make a new tensor: const out = zeros([...]) and write into out.`);
    }
    if (this.viewOf.has(cur.id)) {
      src.fail(base, "ADG1016", `'${base.text}' is part of another tensor; writing into it would change that tensor too.`,
        "Write into the whole tensor with all indices: y[t][i] = v.");
    }
    const callerArrays = new Set<ValueId>();
    for (const h of this.helperParams) for (const v of h.values()) this.rootsOf(v).forEach((r) => callerArrays.add(r));
    if ([...roots].some((r) => this.params.has(r) || callerArrays.has(r))) {
      src.fail(base, "ADG1016", `'${base.text}' may be a parameter's array; writing into it would change the caller's array.`,
        `Make a new tensor: const out = zeros([...]) and write into out.`);
    }
    for (const [sym, v] of env) {
      if (sym === baseSym || v === undefined || v.type.kind !== "tensor") continue;
      const other = this.rootsOf(this.viewOf.get(v.id) ?? v);
      if ([...other].some((r) => roots.has(r))) {
        src.fail(base, "ADG1016", `'${base.text}' and '${sym.name}' may refer to the same array, so writing into one changes the other.`,
          `Copy into a fresh tensor instead of assigning one tensor variable to another.`);
      }
    }
  }

  /** How many writes there have been (to find those of a loop body). */
  get writes(): number {
    return this.written.length;
  }

  /**
   * A loop variable that the body writes into must not become, at the end of an iteration,
   * an array that another variable also holds (the next iteration would write into it).
   * `param` is the carried value at the start of an iteration, `next` at its end, `since`
   * the count of writes before the body and `firstInBody` the first value id of the body.
   */
  checkCarried(loop: TS.Node, name: string, param: Value, next: Value, since: number, firstInBody: number): void {
    if (next.type.kind !== "tensor") return;
    const bodyWrites = this.written.slice(since);
    if (bodyWrites.length === 0) return;
    const own = this.rootsOf(param);
    const nextRoots = this.rootsOf(next);
    const foreign = [...nextRoots].filter((r) => r < firstInBody && !own.has(r));
    const writesIntoIt = bodyWrites.some((w) => [...this.roots.get(w) ?? new Set([w])].some((r) => own.has(r) || nextRoots.has(r)));
    if (foreign.length && writesIntoIt) {
      this.src.fail(loop, "ADG1016", `'${name}' becomes another variable's array in this loop, and the loop writes into it.`,
        "Copy into a fresh tensor made with zeros([...]) instead of assigning one tensor variable to another.");
    }
  }
}
