// TypeScript, loaded as CommonJS. Importing its 9 MB CommonJS bundle from ESM makes Node
// scan the whole file for named exports first (a third of a second at every start).

import { createRequire } from "node:module";
import type * as TS from "typescript";

const require = createRequire(import.meta.url);
const ts = require("typescript") as typeof TS;
export default ts;
export type { TS };
