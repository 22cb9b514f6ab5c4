// Formats the generated module with prettier, piece by piece (each top-level declaration on
// its own, which gives the same text as formatting the whole). A large module is formatted
// on two threads: prettier is the slowest step of compiling a long program (about 3 s per
// megabyte of output on one core here).
//
// Only prettier's standalone core and its Babel parser are loaded (parser "babel-ts", which
// reads TypeScript): loading prettier's own TypeScript parser would cost more than the rest
// of a compile. Pieces formatted before come from a cache on disk (formatCache).

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { cacheDir, requireCached } from "../codeCache.js";
import { layOut } from "./layout.js";

/** Modules larger than this are formatted on two threads. */
const PARALLEL_BYTES = 1_000_000;

/** A top-level piece of the module; `kernel`: a kernel's function, written by the kernel writer. */
export interface Piece {
  readonly text: string;
  readonly kernel?: boolean;
}

export async function formatChunks(pieces: readonly Piece[]): Promise<string> {
  // a kernel whose layout is prettier's but for indentation is laid out here (layout.ts);
  // pieces formatted before (an unchanged entry, a kernel prettier had to break) come from
  // the cache; only the others are formatted, and prettier is not even loaded when none is new
  const cache = formatCache();
  const chunks = pieces.map((p) => p.text);
  const out: (string | undefined)[] = pieces.map((p) => (p.kernel ? layOut(p.text) : undefined) ?? cache?.get(p.text));
  const missing = chunks.flatMap((c, k) => (out[k] === undefined ? [k] : []));
  if (missing.length) {
    const formatted = await formatPieces(missing.map((k) => chunks[k]!));
    missing.forEach((k, n) => {
      out[k] = formatted[n]!;
      cache?.set(chunks[k]!, formatted[n]!);
    });
  }
  return out.join("\n");
}

/**
 * Formatted pieces on disk, beside V8's code cache (../codeCache.ts: $ADGEN_CACHE_DIR, else
 * ~/.cache/adgen; ADGEN_CODE_CACHE=0 turns both off), one file per piece keyed by its text,
 * prettier's build and the options: prettier's output depends on nothing else. A cache that
 * cannot be read or written is skipped.
 */
function formatCache(): { get(chunk: string): string | undefined; set(chunk: string, formatted: string): void } | undefined {
  const base = cacheDir();
  if (!base) return undefined;
  let build: string;
  try {
    const file = createRequire(import.meta.url).resolve("prettier/standalone");
    const st = statSync(file);
    build = `${file}\0${st.size}\0${st.mtimeMs}\0${JSON.stringify(OPTIONS)}`;
  } catch {
    return undefined;
  }
  const dir = join(base, "format");
  const path = (chunk: string) => join(dir, `${createHash("sha256").update(build).update("\0").update(chunk).digest("hex").slice(0, 32)}.ts`);
  return {
    get(chunk) {
      try {
        return readFileSync(path(chunk), "utf8");
      } catch {
        return undefined;
      }
    },
    set(chunk, formatted) {
      prune(dir);
      const file = path(chunk);
      const part = `${file}.${process.pid}.part`;
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(part, formatted);
        renameSync(part, file);
      } catch {
        try {
          unlinkSync(part);
        } catch {
          // nothing was written
        }
      }
    },
  };
}

/** The most pieces the cache keeps: past it, the older half goes (once per process). */
const CACHE_PIECES = 4096;
let pruned = false;

function prune(dir: string): void {
  if (pruned) return;
  pruned = true;
  try {
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
    if (files.length <= CACHE_PIECES) return;
    const aged = files.map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
    for (const { f } of aged.slice(0, files.length - CACHE_PIECES / 2)) unlinkSync(join(dir, f));
  } catch {
    // another process pruned it first, or the cache cannot be written: it only costs time
  }
}

async function formatPieces(chunks: readonly string[]): Promise<string[]> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total < PARALLEL_BYTES || chunks.length < 2) return formatEach(chunks);
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
  return out;
}

/** prettier's options for generated code. */
const OPTIONS = { parser: "babel-ts", printWidth: 100 } as const;

export async function formatEach(chunks: readonly string[]): Promise<string[]> {
  // (their CommonJS builds, through V8's code cache: ../codeCache.ts)
  const prettier = requireCached<typeof import("prettier/standalone")>("prettier/standalone");
  const babel = requireCached<typeof import("prettier/plugins/babel")>("prettier/plugins/babel");
  const estree = requireCached<typeof import("prettier/plugins/estree")>("prettier/plugins/estree");
  const out: string[] = [];
  for (const c of chunks) out.push(await prettier.format(c, { ...OPTIONS, plugins: [babel, estree] }));
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
