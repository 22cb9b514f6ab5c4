// The names of one function body's values, decided by one manager: a user's variable keeps
// its name; an adjoint is named after its primal (dh4 after h4); a layer's output after the
// layer (conv1Out, computed by the kernel conv1); a reshape after its source; anything else
// after its op (act for relu) or a generic name (t, buf); a loop's start that the source
// names like the counter (`let i = j + 1`) is `start`, so the counter keeps its name. A
// buffer class is one variable,
// named after the value that first fills it. Names come from the NameScope of the block
// being printed, so they never collide with each other or with the user's.

import { Block, Value, ValueId } from "../../ir/types.js";
import { regionsOf } from "../../ir/walk.js";
import { OPS } from "../../ops/index.js";
import { NameScope } from "../names.js";
import { BodySettings } from "./settings.js";
import { BufferClass, Storage, StoragePlan } from "./storage.js";
import { Uses } from "./uses.js";

export class BodyNames {
  /** The names of the innermost JavaScript block being printed. */
  scope: NameScope;
  /** Values with a variable of their own. */
  readonly jsName = new Map<ValueId, string>();
  /** Values written inline where they are used, with the depth of their expression. */
  readonly inline = new Map<ValueId, { readonly expr: string; readonly depth: number }>();
  private readonly classVar = new Map<BufferClass, string>();
  private readonly suggested = new Map<ValueId, string>();
  /** Loop starts named like their loop's counter (see hintOf), found on first use. */
  private starts?: Set<ValueId>;

  constructor(
    private readonly body: Block,
    private readonly uses: Uses,
    private readonly plan: StoragePlan,
    /** The function's own scope (buffer variables are declared at its level). */
    private readonly names: NameScope,
    private readonly settings: BodySettings,
  ) {
    this.scope = names;
  }

  /** Runs fill with a new block scope. */
  inChild<T>(fill: () => T): T {
    const saved = this.scope;
    this.scope = this.scope.child();
    try {
      return fill();
    } finally {
      this.scope = saved;
    }
  }

  storageOf(v: Value): Storage | undefined {
    return this.plan.storage.get(v.id);
  }

  clsOf(v: Value): BufferClass | undefined {
    const s = this.storageOf(v);
    return s?.kind === "buffer" ? s.cls : undefined;
  }

  suggest(v: Value, name: string): void {
    if (!this.suggested.has(v.id)) this.suggested.set(v.id, name);
  }

  /** The name v already has, if any. */
  knownName(v: Value): string | undefined {
    const n = this.jsName.get(v.id);
    if (n !== undefined) return n;
    const c = this.clsOf(v);
    return c ? this.classVar.get(c) : undefined;
  }

  private startsLikeCounters(): Set<ValueId> {
    if (this.starts) return this.starts;
    const starts = new Set<ValueId>();
    const blocks: Block[] = [this.body];
    for (let k = 0; k < blocks.length; k++) {
      for (const instr of blocks[k]!.instrs) {
        if (instr.op === "for" && instr.start.name !== undefined && instr.start.name === instr.body.params[0]!.name) starts.add(instr.start.id);
        blocks.push(...regionsOf(instr));
      }
    }
    return (this.starts = starts);
  }

  /** What to call v (before making it unique). */
  hintOf(v: Value, depth = 0): string {
    if (v.name) return this.startsLikeCounters().has(v.id) ? "start" : v.name;
    const s = this.suggested.get(v.id);
    if (s) return s;
    const primal = this.settings.adjoints?.get(v.id);
    if (primal !== undefined && depth < 4) {
      const pv = this.uses.defOf.get(primal)?.result ?? this.body.params.find((q) => q.id === primal);
      const pn = pv ? this.knownName(pv) ?? this.hintOf(pv, depth + 1) : undefined;
      if (pn) return `d${pn}`;
    }
    const def = this.uses.defOf.get(v.id);
    // a reshape is its source under another shape
    if (def?.op === "reshape" && depth < 8) return this.knownName(def.args[0]!) ?? this.hintOf(def.args[0]!, depth + 1);
    // a layer's output, after the layer (conv1Out: the kernel is conv1)
    const layer = def && v.type.kind === "tensor" ? this.settings.layerOf?.(def) : undefined;
    if (def && layer && OPS[def.op].vjp !== "adjointOnly") return `${layer}Out`;
    const opName = def && OPS[def.op].name;
    if (opName) return opName;
    return v.type.kind === "tensor" ? "buf" : "t";
  }

  /** The variable of a buffer class, declared at the function's level (it outlives blocks). */
  varOf(cls: BufferClass): string {
    let n = this.classVar.get(cls);
    if (n === undefined) {
      n = this.names.freshHere(this.hintOf(cls.home));
      this.classVar.set(cls, n);
    }
    return n;
  }

  /** The JavaScript expression of a value (after its definition was printed). */
  nameOf(v: Value): string {
    const inl = this.inline.get(v.id);
    if (inl) return inl.expr;
    const n = this.jsName.get(v.id);
    if (n !== undefined) return n;
    const s = this.storageOf(v);
    if (s?.kind === "buffer") return this.varOf(s.cls);
    if (s?.kind === "view" && this.uses.defOf.get(v.id)?.op === "reshape") return this.nameOf(s.of);
    throw new Error(`internal: value %${v.id} has no name yet`);
  }

  /** A new variable of the current block for v. */
  declare(v: Value): string {
    const n = this.scope.fresh(this.hintOf(v));
    this.jsName.set(v.id, n);
    return n;
  }

  bind(v: Value, name: string): void {
    this.jsName.set(v.id, name);
  }
}
