// Formats the generated module with prettier, piece by piece (each top-level declaration on
// its own, which gives the same text as formatting the whole). A large module is formatted
// on two threads: prettier is the slowest step of compiling a long program (about 3 s per
// megabyte of output on one core here).
//
// Only prettier's standalone core and its Babel parser are loaded (parser "babel-ts", which
// reads TypeScript): loading prettier's own TypeScript parser would cost more than the rest
// of a compile.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { requireCached } from "../codeCache.js";

/** Modules larger than this are formatted on two threads. */
const PARALLEL_BYTES = 1_000_000;

export async function formatChunks(chunks: readonly string[]): Promise<string> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total < PARALLEL_BYTES || chunks.length < 2) return (await formatEach(chunks)).join("\n");
  // two groups of about equal size: one here, one on a worker thread
  const mine: number[] = [];
  const theirs: number[] = [];
  let a = 0;
  let b = 0;
  chunks.map((c, k) => [c.length, k] as const).sort((x, y) => y[0] - x[0]).forEach(([n, k]) => {
    if (a <= b) (mine.push(k), (a += n));
    else (theirs.push(k), (b += n));
  });
  const [here, there] = await Promise.all([formatEach(mine.map((k) => chunks[k]!)), formatOnWorker(theirs.map((k) => chunks[k]!))]);
  const out: string[] = new Array(chunks.length);
  mine.forEach((k, n) => (out[k] = here[n]!));
  theirs.forEach((k, n) => (out[k] = there[n]!));
  return out.join("\n");
}

export async function formatEach(chunks: readonly string[]): Promise<string[]> {
  // (their CommonJS builds, through V8's code cache: ../codeCache.ts)
  const prettier = requireCached<typeof import("prettier/standalone")>("prettier/standalone");
  const babel = requireCached<typeof import("prettier/plugins/babel")>("prettier/plugins/babel");
  const estree = requireCached<typeof import("prettier/plugins/estree")>("prettier/plugins/estree");
  const out: string[] = [];
  for (const c of chunks) out.push(await prettier.format(c, { parser: "babel-ts", plugins: [babel, estree], printWidth: 100 }));
  return out;
}

function formatOnWorker(chunks: readonly string[]): Promise<string[]> {
  const script = new URL("./formatWorker.js", import.meta.url);
  // (run from source, as the tests do, there is no compiled worker: format here instead)
  if (!existsSync(fileURLToPath(script))) return formatEach(chunks);
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: chunks });
    worker.once("message", (m: { ok: true; out: string[] } | { ok: false; error: string }) => {
      void worker.terminate();
      if (m.ok) resolve(m.out);
      else reject(new Error(m.error));
    });
    worker.once("error", reject);
  });
}
