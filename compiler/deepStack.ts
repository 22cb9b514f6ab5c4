// Deeply nested programs (2,000 nested parentheses, Math.sin applied 1,000 times, hundreds
// of nested ifs) overflow the call stack in TypeScript's own parser and checker and in
// prettier, which recurse over the syntax tree; so does tsc itself on such a file. adgen
// compiles such a file on a worker thread with a large stack instead. adgen's own passes
// recurse only with the nesting of regions (ifs and loops), never with the program's length.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { CompileOptions, CompileResult } from "./pipeline.js";

/** Nesting deeper than this (brackets and braces) compiles on the deep stack. */
const DEEP = 120;
const STACK_MB = 512;

/** The deepest nesting of ( [ { in the source, skipping strings and comments. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "/" && text[i + 1] === "/") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
    } else if (c === '"' || c === "'" || c === "`") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++;
    } else if (c === "(" || c === "[" || c === "{") {
      if (++depth > max) max = depth;
    } else if (c === ")" || c === "]" || c === "}") {
      depth--;
    }
  }
  return max;
}

const workerScript = new URL("./compileWorker.js", import.meta.url);

/** Should this source compile on a deep stack (and can it: run from source there is no compiled worker)? */
export function needsDeepStack(text: string): boolean {
  return nestingDepth(text) > DEEP && existsSync(fileURLToPath(workerScript));
}

/** compile() on a worker thread with a large stack; IR printed along the way is relayed to onIr. */
export function compileOnDeepStack(text: string, options: CompileOptions): Promise<CompileResult> {
  const { onIr, ...plain } = options;
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerScript, {
      workerData: { text, options: plain, relayIr: onIr !== undefined },
      resourceLimits: { stackSizeMb: STACK_MB },
    });
    worker.on("message", (m: { ir?: [string, string, string]; result?: CompileResult }) => {
      if (m.ir) onIr?.(...m.ir);
      if (m.result) {
        resolve(m.result);
        void worker.terminate();
      }
    });
    worker.once("error", reject);
  });
}
