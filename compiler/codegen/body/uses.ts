// Where each value of a function body is defined and read, and whether a value is read
// after a given instruction on some path — the liveness the storage analysis and the
// printer ask about. Linear in the size of the body (times the nesting depth):
//
// - A use inside a nested region counts, in each enclosing block up to the value's own
//   block, as a use by the instruction that holds the region (`lastUseIn`).
// - After an instruction in a branch, the other branch of the same `if` is not "after": a
//   value read only in the else-branch is dead in the then-branch once the then-branch no
//   longer reads it (a conditional write updates its tensor in place).
// - Inside a loop, a value defined outside the loop and read anywhere in it is live
//   throughout (the next iteration reads it again).

import { Block, Instr, SimpleInstr, Value, ValueId, isSimple, operandsOf, resultsOf } from "../../ir/types.js";
import { regionsOf } from "../../ir/walk.js";

export interface Position {
  readonly block: Block;
  /** The instruction's index in the block (block.instrs.length for the yield). */
  readonly index: number;
}

export interface Parent {
  readonly block: Block;
  readonly index: number;
  readonly instr: Instr;
}

export interface Uses {
  readonly parentOf: ReadonlyMap<Block, Parent>;
  /** The block defining each value (a block parameter or an instruction result) and the index (-1 for parameters). */
  readonly defAt: ReadonlyMap<ValueId, Position>;
  /** The simple instruction defining each value. */
  readonly defOf: ReadonlyMap<ValueId, SimpleInstr>;
  /** Every direct use of each value: the position of the instruction (or yield) that reads it. */
  readonly usesOf: ReadonlyMap<ValueId, readonly Position[]>;
  /** Is v read after the instruction at (block, index), on some path? The instruction itself does not count. */
  liveAfter(v: Value, block: Block, index: number): boolean;
  /** Is v read anywhere inside the regions of the instruction at (block, index)? */
  usedWithin(v: Value, block: Block, index: number): boolean;
  /** The loop nesting depth of a block (0 at the function's top level). */
  loopDepth(block: Block): number;
}

export function analyzeUses(body: Block): Uses {
  const parentOf = new Map<Block, Parent>();
  const defAt = new Map<ValueId, Position>();
  const defOf = new Map<ValueId, SimpleInstr>();
  const usesOf = new Map<ValueId, Position[]>();
  const lastUseIn = new Map<ValueId, Map<Block, number>>();
  const depth = new Map<Block, number>([[body, 0]]);

  // definitions first (every region), with an explicit stack: nesting is as deep as the program's
  const blocks: Block[] = [body];
  for (let n = 0; n < blocks.length; n++) {
    const block = blocks[n]!;
    block.params.forEach((p) => defAt.set(p.id, { block, index: -1 }));
    block.instrs.forEach((instr, index) => {
      resultsOf(instr).forEach((r) => defAt.set(r.id, { block, index }));
      if (isSimple(instr)) defOf.set(instr.result.id, instr);
      for (const region of regionsOf(instr)) {
        parentOf.set(region, { block, index, instr });
        depth.set(region, depth.get(block)! + (instr.op === "for" || instr.op === "while" ? 1 : 0));
        blocks.push(region);
      }
    });
  }

  const use = (v: Value, block: Block, index: number): void => {
    const list = usesOf.get(v.id);
    if (list) list.push({ block, index });
    else usesOf.set(v.id, [{ block, index }]);
    let perBlock = lastUseIn.get(v.id);
    if (!perBlock) lastUseIn.set(v.id, (perBlock = new Map()));
    const home = defAt.get(v.id)?.block;
    let b: Block | undefined = block;
    let i = index;
    while (b) {
      const cur = perBlock.get(b);
      if (cur === undefined || cur < i) perBlock.set(b, i);
      if (b === home) break;
      const p = parentOf.get(b);
      if (!p) break;
      b = p.block;
      i = p.index;
    }
  };
  for (const block of blocks) {
    block.instrs.forEach((instr, index) => operandsOf(instr).forEach((v) => use(v, block, index)));
    block.yields.forEach((y) => use(y, block, block.instrs.length));
  }

  return {
    parentOf,
    defAt,
    defOf,
    usesOf,
    liveAfter(v, block, index) {
      const perBlock = lastUseIn.get(v.id);
      if (!perBlock) return false;
      const home = defAt.get(v.id)?.block;
      let b = block;
      let i = index;
      for (;;) {
        const last = perBlock.get(b);
        if (last !== undefined && last > i) return true;
        if (b === home) return false;
        const p = parentOf.get(b);
        if (!p) return false;
        // defined outside this loop and read in it: the next iteration reads it again
        if ((p.instr.op === "for" || p.instr.op === "while") && last !== undefined) return true;
        b = p.block;
        i = p.index;
      }
    },
    usedWithin(v, block, index) {
      const instr = block.instrs[index];
      if (!instr) return false;
      return regionsOf(instr).some((r) => lastUseIn.get(v.id)?.has(r) ?? false);
    },
    loopDepth: (block) => depth.get(block) ?? 0,
  };
}
