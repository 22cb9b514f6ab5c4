// Which buffer holds each tensor value: the analysis that decides, before anything is
// printed, where the generated code updates in place, where it copies and where it swaps.
//
// Tensors are values in the IR; in the generated code they live in buffers. Values that
// can share a buffer are put in one class (one JavaScript variable):
// - `store`/`accum` update their operand's buffer in place when nothing reads the operand
//   (or any other value of its buffer) afterwards, on any path; else they copy it first;
// - a loop-carried tensor uses its initial value's buffer when that is dead after the loop;
//   at the end of an iteration, the yielded value is already in the carried buffer (an
//   in-place chain), or it is a fresh buffer of this iteration and the two buffers swap
//   (double buffering, no copy), or else it is copied in;
// - an if's result is one buffer when both branches yield versions of one buffer, else a
//   reference to whichever buffer the branch taken yields.
// Buffers are allocated once, before the outermost loop around their first definition, so
// nothing allocates inside a loop; in the allocation-free form every class is a workspace
// slot. Elementwise ops whose one reader is another elementwise op in the same block are
// fused into it (fusedInto) and get no buffer at all.

import { Block, Dim, ForInstr, IfInstr, Instr, SimpleInstr, Value, ValueId, WhileInstr, isSimple, sizeOf } from "../../ir/types.js";
import { dimEquals } from "../../ir/dims.js";
import { OPS } from "../../ops/index.js";
import { Uses } from "./uses.js";

export interface BufferClass {
  readonly id: number;
  /** Its number of elements (a formula of the sizes when they are symbolic). */
  readonly size: Dim;
  /** The value that first fills the buffer (its name names the buffer). */
  readonly home: Value;
  /** Every value held in this buffer. */
  readonly members: Value[];
  /** Values whose reads read this buffer without being held in it (views, references). */
  readonly readers: Value[];
  /** Swapped with another buffer at the end of a loop iteration: a `let` variable. */
  swapped: boolean;
  /** A reference (an if result) to whichever of these buffers a branch yields. */
  readonly targets?: readonly BufferClass[];
  /** The caller's buffer this class is computed into (GradInto's gradients), if any. */
  output?: string;
}

export type Storage =
  /** Read-only: a parameter, or a value read from a tape. */
  | { readonly kind: "readonly" }
  /** Held in a buffer of its class. */
  | { readonly kind: "buffer"; readonly cls: BufferClass }
  /** The same elements as another value: a reshape (same buffer), or a partial index (a subarray). */
  | { readonly kind: "view"; readonly of: Value }
  /** Fused into the elementwise loop of its one reader: no buffer. */
  | { readonly kind: "fused" };

type Loop = ForInstr | WhileInstr;

/** How a loop-carried tensor gets the yielded value into the carried buffer. */
export type YieldMode = "same" | "swap" | "copy";

export interface StoragePlan {
  readonly storage: ReadonlyMap<ValueId, Storage>;
  /** store/accum (and elementwise ops) that write into their operand's buffer. */
  readonly inPlace: ReadonlySet<SimpleInstr>;
  /** Per loop: does each carried tensor start in its initial value's buffer (else a copy)? */
  readonly sharesInit: ReadonlyMap<ForInstr | WhileInstr, readonly boolean[]>;
  readonly yieldMode: ReadonlyMap<ForInstr | WhileInstr, readonly YieldMode[]>;
  /** Per if: does each tensor result reference the yielded buffers (else, copies into its own)? */
  readonly ifRefs: ReadonlyMap<IfInstr, readonly boolean[]>;
  readonly classes: readonly BufferClass[];
  readonly fusedInto: ReadonlyMap<ValueId, SimpleInstr>;
}

export interface StorageSettings {
  /** Values that are read-only (parameters, tape values in a backward function). */
  readonly readonly: ReadonlySet<ValueId>;
  /** Values that must stay materialised (tape values, results). */
  readonly keep: ReadonlySet<ValueId>;
  /** Partial indices copy into a buffer of their own (allocation-free form) instead of a subarray. */
  readonly copyViews: boolean;
}

/** Elementwise tensor ops: one loop over the elements, fusable. */
export function isElementwise(instr: Instr): boolean {
  if (!isSimple(instr) || instr.result.type.kind !== "tensor") return false;
  const def = OPS[instr.op];
  return def.family === "unary" || def.family === "binary" || instr.op === "reluGrad";
}

/** At most this many elementwise ops fuse into one loop (the element expression nests this deep). */
const MAX_FUSED = 12;

export function planStorage(body: Block, uses: Uses, settings: StorageSettings): StoragePlan {
  const storage = new Map<ValueId, Storage>();
  const inPlace = new Set<SimpleInstr>();
  const sharesInit = new Map<Loop, boolean[]>();
  const yieldMode = new Map<Loop, YieldMode[]>();
  const ifRefs = new Map<IfInstr, boolean[]>();
  const classes: BufferClass[] = [];
  const fusedInto = new Map<ValueId, SimpleInstr>();
  const fusedDepth = new Map<ValueId, number>();

  const newClass = (home: Value, targets?: readonly BufferClass[]): BufferClass => {
    const cls: BufferClass = {
      id: classes.length, size: home.type.kind === "tensor" ? sizeOf(home.type.shape) : 1, home,
      members: [], readers: [], swapped: false, ...(targets ? { targets } : {}),
    };
    classes.push(cls);
    return cls;
  };
  const hold = (v: Value, cls: BufferClass): void => {
    storage.set(v.id, { kind: "buffer", cls });
    cls.members.push(v);
  };
  /** The buffers whose contents reading v reads. */
  const buffersOf = (v: Value): BufferClass[] => {
    const s = storage.get(v.id);
    if (!s) return [];
    if (s.kind === "buffer") return s.cls.targets ? [s.cls, ...s.cls.targets.flatMap((t) => [t])] : [s.cls];
    if (s.kind === "view") return buffersOf(s.of);
    return [];
  };
  const addReader = (v: Value, of: Value): void => {
    for (const c of buffersOf(of)) c.readers.push(v);
  };
  const ownedClass = (v: Value): BufferClass | undefined => {
    const s = storage.get(v.id);
    return s?.kind === "buffer" ? s.cls : undefined;
  };
  /** Is anything that reads cls's buffer (or the buffers it may reference) read after (block, index)? */
  const deadAfter = (cls: BufferClass, block: Block, index: number, except?: Value): boolean => {
    const all = cls.targets ? [cls, ...cls.targets] : [cls];
    for (const c of all) {
      for (const m of [...c.members, ...c.readers]) {
        if (m === except) continue;
        if (settings.keep.has(m.id)) return false;
        if (uses.liveAfter(m, block, index)) return false;
      }
    }
    return true;
  };

  /** Can the elementwise instr at (block, index) be computed inside its one reader's loop? */
  const fusable = (instr: SimpleInstr, block: Block, index: number): SimpleInstr | undefined => {
    const v = instr.result;
    if (settings.keep.has(v.id)) return undefined;
    const list = uses.usesOf.get(v.id) ?? [];
    if (list.length !== 1 || list[0]!.block !== block) return undefined;
    const user = block.instrs[list[0]!.index];
    if (!user || !isSimple(user) || !isElementwise(user)) return undefined;
    // (the reader reads it once per element; nothing in between may write what it reads)
    if (user.args.filter((a) => a.id === v.id).length !== 1) return undefined;
    // (only scalar code in between: nothing there writes a buffer the fused expression reads)
    for (let n = index + 1; n < list[0]!.index; n++) {
      const between = block.instrs[n]!;
      if (!isSimple(between) || between.result.type.kind === "tensor") return undefined;
    }
    const depth = 1 + Math.max(0, ...instr.args.map((a) => fusedDepth.get(a.id) ?? 0));
    if (depth > MAX_FUSED) return undefined;
    fusedDepth.set(v.id, depth);
    return user;
  };

  const walk = (block: Block): void => {
    block.instrs.forEach((instr, index) => {
      if (isSimple(instr)) return simple(instr, block, index);
      if (instr.op === "if") return ifInstr(instr, block, index);
      return forInstr(instr, block, index);
    });
  };

  const simple = (instr: SimpleInstr, block: Block, index: number): void => {
    const r = instr.result;
    if (r.type.kind !== "tensor") return;
    if (settings.readonly.has(r.id)) {
      storage.set(r.id, { kind: "readonly" });
      return;
    }
    switch (instr.op) {
      case "reshape":
        storage.set(r.id, { kind: "view", of: instr.args[0]! });
        addReader(r, instr.args[0]!);
        return;
      case "index":
      case "peek":
        if (!settings.copyViews) {
          storage.set(r.id, { kind: "view", of: instr.args[0]! });
          addReader(r, instr.args[0]!);
          return;
        }
        hold(r, newClass(r));
        return;
      case "select":
        // a reference to one of two buffers: never written in place
        hold(r, newClass(r, [...buffersOf(instr.args[1]!), ...buffersOf(instr.args[2]!)]));
        addReader(r, instr.args[1]!);
        addReader(r, instr.args[2]!);
        return;
      case "store":
      case "accum": {
        const t = instr.args[0]!;
        const cls = ownedClass(t);
        if (cls && !cls.targets?.length && deadAfter(cls, block, index)) {
          inPlace.add(instr);
          hold(r, cls);
        } else {
          hold(r, newClass(r));
        }
        return;
      }
    }
    if (isElementwise(instr)) {
      const user = fusable(instr, block, index);
      if (user) {
        fusedInto.set(r.id, user);
        storage.set(r.id, { kind: "fused" });
        return;
      }
    }
    hold(r, newClass(r));
  };

  const ifInstr = (I: IfInstr, block: Block, index: number): void => {
    walk(I.then);
    walk(I.else);
    const refs: boolean[] = [];
    const claimed = new Set<BufferClass>();
    I.results.forEach((r, k) => {
      if (r.type.kind !== "tensor") return void refs.push(false);
      const t = I.then.yields[k]!;
      const e = I.else.yields[k]!;
      const ct = ownedClass(t);
      const ce = ownedClass(e);
      // each yield's buffer must be free for the result: nothing else reads it after the if
      // (in its branch) and no other result takes it
      const free = (c: BufferClass | undefined, branch: Block, y: Value): c is BufferClass =>
        !!c && !c.targets?.length && !claimed.has(c) && deadAfter(c, branch, branch.instrs.length, y) &&
        !uses.liveAfter(y, block, index) && yieldedOnce(branch, y);
      const okT = free(ct, I.then, t);
      const okE = free(ce, I.else, e);
      if (okT && okE) {
        claimed.add(ct).add(ce);
        refs.push(true);
        if (ct === ce) hold(r, ct);
        else {
          const cls = newClass(r, [ct, ce]);
          hold(r, cls);
        }
        return;
      }
      refs.push(false);
      hold(r, newClass(r));
    });
    ifRefs.set(I, refs);
  };

  const yieldedOnce = (block: Block, y: Value): boolean => block.yields.filter((v) => v.id === y.id).length === 1;

  const forInstr = (L: Loop, block: Block, index: number): void => {
    const carried = L.op === "for" ? L.body.params.slice(1) : L.body.params;
    const shares: boolean[] = [];
    const claimed = new Set<BufferClass>();
    carried.forEach((p, k) => {
      if (p.type.kind !== "tensor") return void shares.push(false);
      const init = L.init[k]!;
      const ci = ownedClass(init);
      const ok = !!ci && !ci.targets?.length && !claimed.has(ci) && deadAfter(ci, block, index) &&
        ![...ci.members, ...ci.readers].some((m) => uses.usedWithin(m, block, index)) &&
        L.init.filter((v) => v.id === init.id).length === 1;
      const cls = ok ? ci : newClass(p);
      if (ok) claimed.add(ci);
      hold(p, cls);
      if (L.op === "while") hold(L.cond.params[k]!, cls);
      shares.push(ok);
    });
    sharesInit.set(L, shares);
    if (L.op === "while") walk(L.cond);
    walk(L.body);
    const modes: YieldMode[] = [];
    const taken = new Set<BufferClass>();
    carried.forEach((p, k) => {
      if (p.type.kind !== "tensor") return void modes.push("same");
      const y = L.body.yields[k]!;
      const P = ownedClass(p)!;
      const Y = ownedClass(y);
      if (Y === P && !taken.has(P)) {
        taken.add(P);
        modes.push("same");
        return;
      }
      // a buffer this iteration filled, read by nothing else after the yield: swap it with the carried one
      const fresh = !!Y && !Y.targets?.length && !taken.has(Y) && dimEquals(Y.size, P.size) && !Y.output &&
        Y.members.every((m) => uses.defAt.get(m.id)?.block === L.body) &&
        L.body.yields.filter((v) => ownedClass(v) === Y).length === 1 &&
        L.body.yields.filter((v) => ownedClass(v) === P).length === 0;
      if (fresh) {
        taken.add(Y!);
        P.swapped = true;
        Y!.swapped = true;
        modes.push("swap");
        return;
      }
      modes.push("copy");
    });
    yieldMode.set(L, modes);
    L.results.forEach((r, k) => {
      if (r.type.kind !== "tensor") return;
      hold(r, ownedClass(carried[k]!)!);
    });
  };

  // the function's parameters are read-only
  body.params.forEach((p) => p.type.kind === "tensor" && storage.set(p.id, { kind: "readonly" }));
  walk(body);
  return { storage, inPlace, sharesInit, yieldMode, ifRefs, classes, fusedInto };
}
