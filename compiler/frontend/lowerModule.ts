// Lowers a type-checked DSL file to the IR: one Func per exported function, with helper
// functions inlined at their call sites (gradients flow through them). The work is split
// by room: the file's top level (moduleScope.ts), one entry (lowerEntry.ts), statements,
// loops, expressions, calls and builtins, each in its own file, sharing one Lowering
// context (context.ts); the alias analysis runs during lowering (aliases.ts), the index
// range analysis afterwards on the IR (indexRanges.ts).

import { CheckedProgram } from "./program.js";
import { LoweredEntry, lowerEntry } from "./lowerEntry.js";
import { scanModule } from "./moduleScope.js";
import { Source, createSource } from "./source.js";

export type { LoweredEntry } from "./lowerEntry.js";
export type { EntryParam } from "./signatures.js";
export { checkImports } from "./moduleScope.js";

export interface LoweredModule {
  readonly entries: readonly LoweredEntry[];
  /** The file, for analyses that report positions. */
  readonly src: Source;
}

export function lowerModule(checked: CheckedProgram, displayName: string): LoweredModule {
  const src = createSource(checked.checker, checked.sourceFile, displayName);
  const scope = scanModule(src);
  return { entries: scope.entries.map((fn) => lowerEntry(scope, fn)), src };
}
