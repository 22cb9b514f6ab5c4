// TypeScript, loaded as CommonJS. Importing its 9 MB CommonJS bundle from ESM makes Node
// scan the whole file for named exports first (a third of a second at every start).

// It goes through V8's code cache (../codeCache.ts): a cold start of the CLI spends more
// time compiling TypeScript's own code than compiling the user's file.

import type * as TS from "typescript";
import { requireCached } from "../codeCache.js";

const ts = requireCached<typeof TS>("typescript");
export default ts;
export type { TS };
