// Loads a large CommonJS dependency (TypeScript's 9 MB compiler) with V8's code cache: the
// first run compiles it as usual and, as the process exits, saves the machine code V8 made
// for it (including the functions compiled lazily while it ran: the parser, the checker);
// later runs start from that instead of parsing and compiling again. This is what Node 22's
// module.enableCompileCache() does; Node 20 does not have it.
//
// The cache lives in $ADGEN_CACHE_DIR, else $XDG_CACHE_HOME/adgen, else ~/.cache/adgen, one
// file per module keyed by its path, size, modification time and the Node version (V8 also
// rejects a cache made by another V8, and the module is then compiled as usual). A cache
// that cannot be read or written is skipped: it only ever costs the time it would save.
// ADGEN_CODE_CACHE=0 turns it off.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import Module from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

const require = createRequire(import.meta.url);

export function cacheDir(): string | undefined {
  const env = process.env;
  if (env.ADGEN_CODE_CACHE === "0") return undefined;
  if (env.ADGEN_CACHE_DIR) return env.ADGEN_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "adgen");
  try {
    return join(homedir(), ".cache", "adgen");
  } catch {
    return undefined;
  }
}

/** require(specifier), through V8's code cache when one can be kept. */
export function requireCached<T>(specifier: string): T {
  const file = require.resolve(specifier);
  const dir = cacheDir();
  if (!dir) return require(specifier) as T;
  let source: string;
  let key: string;
  try {
    const st = statSync(file);
    // (read, then decoded: Node 20's readFileSync(file, "utf8") takes twice as long on 9 MB)
    source = readFileSync(file).toString("utf8");
    key = createHash("sha256").update(`${file}\0${st.size}\0${st.mtimeMs}\0${process.version}`).digest("hex").slice(0, 24);
  } catch {
    return require(specifier) as T;
  }
  const cacheFile = join(dir, `${key}.v8cache`);
  let cached: Buffer | undefined;
  try {
    cached = readFileSync(cacheFile);
  } catch {
    cached = undefined;
  }
  const script = new Script(Module.wrap(source), { filename: file, ...(cached ? { cachedData: cached } : {}) });
  const wrapper = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: { exports: unknown }, f: string, d: string) => void;
  const mod = { exports: {} as unknown };
  wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  if (!cached || script.cachedDataRejected) {
    // saved as the process ends, so that it holds what this run compiled lazily too
    process.once("exit", () => save(script, dir, cacheFile));
  }
  return mod.exports as T;
}

function save(script: Script, dir: string, cacheFile: string): void {
  const part = `${cacheFile}.${process.pid}.part`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(part, script.createCachedData());
    renameSync(part, cacheFile);
  } catch {
    try {
      unlinkSync(part);
    } catch {
      // nothing was written
    }
  }
}
