// What the printer of a function body is told about the exported form it writes.

import { SimpleInstr, ValueId } from "../../ir/types.js";
import { ModuleHelpers } from "../helpers.js";
import { KernelRegistry } from "../kernels/registry.js";

export interface BodySettings {
  /** "Float64Array" or "Float32Array". */
  readonly arrayType: string;
  readonly kernels: KernelRegistry;
  /** The module's helpers (size checks, stacks). */
  readonly helpers: ModuleHelpers;
  /** The JavaScript expression of a size symbol in this function (a bound size, an integer parameter). */
  readonly dimName: (sym: string) => string;
  /**
   * The allocation-free form: buffers come from a workspace allocated on the first call
   * (`slot` returns the expression of a buffer of its own) instead of `new` per call.
   */
  readonly workspace?: {
    /** A buffer of `size` elements (a JavaScript expression of the sizes). */
    slot(size: string, hint: string): string;
    /** A stack of the workspace, kept from call to call (its top reset to 0 by the caller). */
    stack(hint: string): string;
  };
  /** Values that must stay variables (what the backward pass reads from the forward pass). */
  readonly keep?: ReadonlySet<ValueId>;
  /** Adjoint value -> primal value (names: dh4 after h4). */
  readonly adjoints?: ReadonlyMap<ValueId, ValueId>;
  /** The layer an instruction computes or differentiates (conv1 ...), for its kernel's name. */
  readonly layerOf?: (instr: SimpleInstr) => string | undefined;
}
