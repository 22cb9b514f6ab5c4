// Where the command line writes a generated module, and how.
//
// checkOutput runs before compiling: it refuses an output that names a directory, sits
// under something that is not a directory, or is one of the inputs (by identity, so
// `./m.ts`, a symbolic link or a hard link to m.ts count). A compile that cannot be
// written is then never started.
//
// writeOutput replaces the output atomically: the text goes to a temporary file in the
// output's own directory, named `.<output>.adgen-<pid>.tmp`, which is renamed over the
// output once complete. A reader sees the old module or the new one, never half of one,
// and a failed write leaves the old module as it was. A temporary file orphaned by a
// process that was killed mid-write (SIGKILL cannot be caught) is recognised by its name
// and removed by the next write to the same output, once its process is gone.

import {
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";
import { describeFsError } from "./fsError.js";

/** Where to write, once checked. */
export interface OutputTarget {
  readonly kind: "target";
  /** Absolute; symbolic links resolved, so the link itself is kept. */
  readonly path: string;
  /** A device or pipe (`-o /dev/null`): written in place, never renamed over. */
  readonly inPlace: boolean;
  /** Permission bits of the module being replaced, kept by the new one. */
  readonly mode?: number;
}

/** Why not; `message` goes after `error <code>: `. */
export interface OutputProblem {
  readonly kind: "problem";
  readonly code: "ADG0002" | "ADG0003";
  readonly message: string;
  readonly hint?: string;
}

/**
 * Checks that `out` can take a generated module without touching any of `inputs`.
 * `show` turns a path into the form used in messages.
 */
export function checkOutput(out: string, inputs: readonly string[], show: (path: string) => string = (p) => p): OutputTarget | OutputProblem {
  const cannot = (why: string, name = show(out)): OutputProblem => ({ kind: "problem", code: "ADG0002", message: `cannot write '${name}': ${why}` });
  if (out === "") return cannot("the file name is empty", "");
  // (shown as typed: resolving the path would drop the separator)
  if (out.endsWith("/") || (sep === "\\" && out.endsWith(sep))) return cannot("the name ends in a path separator, so it names a directory", out);

  const existing = stat(out);
  if (existing instanceof Error && !isMissing(existing)) return cannot(describeFsError(existing));
  if (!(existing instanceof Error)) {
    if (existing.isDirectory()) return cannot("it is a directory (EISDIR)");
    for (const input of inputs) {
      const s = stat(input);
      if (!(s instanceof Error) && s.dev === existing.dev && s.ino === existing.ino) {
        return {
          kind: "problem",
          code: "ADG0003",
          message: `cannot write '${show(out)}' because it would overwrite the input file '${show(input)}'`,
          hint: "Choose another output file with -o: adgen never writes over its inputs.",
        };
      }
    }
    if (!existing.isFile()) return { kind: "target", path: resolve(out), inPlace: true };
    // through a symbolic link to the file it names, keeping the link
    const path = realpathSync(out);
    const denied = cannotWriteInto(dirname(path), show);
    return denied ? cannot(denied) : { kind: "target", path, inPlace: false, mode: existing.mode & 0o7777 };
  }

  // a new file: its nearest existing ancestor must be a directory that can be written into
  // (the missing directories in between are created when the module is written)
  const path = resolve(out);
  let dir = dirname(path);
  for (;;) {
    const s = stat(dir);
    if (!(s instanceof Error)) {
      if (!s.isDirectory()) return cannot(`'${show(dir)}' is not a directory (ENOTDIR)`);
      break;
    }
    if (!isMissing(s) || dirname(dir) === dir) return cannot(describeFsError(s));
    dir = dirname(dir);
  }
  const denied = cannotWriteInto(dir, show);
  return denied ? cannot(denied) : { kind: "target", path, inPlace: false };
}

/** Why a file cannot be created in `dir`, or undefined when it can. */
function cannotWriteInto(dir: string, show: (path: string) => string): string | undefined {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (e) {
    return `cannot create files in '${show(dir)}': ${describeFsError(e)}`;
  }
}

/** Writes `text` to a checked target, atomically unless it is a device or pipe. Throws node:fs errors. */
export function writeOutput(target: OutputTarget, text: string): void {
  if (target.inPlace) {
    writeFileSync(target.path, text);
    return;
  }
  const dir = dirname(target.path);
  mkdirSync(dir, { recursive: true });
  removeStaleTemporaries(target.path);
  const tmp = temporaryName(target.path, process.pid);
  try {
    const fd = openSync(tmp, "w");
    try {
      if (target.mode !== undefined) fchmodSync(fd, target.mode);
      writeFileSync(fd, text);
      // on disk before the rename, so a crash cannot leave an empty module behind
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target.path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw e;
  }
}

/** `/d/m.grad.ts`, 123 -> `/d/.m.grad.ts.adgen-123.tmp` */
export function temporaryName(output: string, pid: number): string {
  return join(dirname(output), `.${basename(output)}.adgen-${pid}.tmp`);
}

/** Removes the temporary files of `output` whose process is no longer running; returns their names. */
export function removeStaleTemporaries(output: string): string[] {
  const base = basename(output);
  const prefix = `.${base}.adgen-`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dirname(output));
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue;
    const pid = name.slice(prefix.length, -".tmp".length);
    if (!/^[1-9]\d*$/.test(pid) || Number(pid) === process.pid || isRunning(Number(pid))) continue;
    try {
      unlinkSync(join(dirname(output), name));
      removed.push(name);
    } catch {
      // removed by someone else meanwhile, or not ours to remove
    }
  }
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The file's Stats (following symbolic links), or the error that says why there are none. */
function stat(path: string): Stats | NodeJS.ErrnoException {
  try {
    return statSync(path);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Nothing there: ENOENT (also a dangling symbolic link, which the new module replaces), or ENOTDIR (a file where a directory would be). */
function isMissing(e: NodeJS.ErrnoException): boolean {
  return e.code === "ENOENT" || e.code === "ENOTDIR";
}
