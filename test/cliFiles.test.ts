// The command line and the file system: why an input cannot be read (each errno its own
// words), outputs that are refused before compiling (a directory, a path under a file, an
// input by any name), atomic writes that leave no temporary file behind, and temporary
// files orphaned by a killed process, removed by the next run.

import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFsError } from "../compiler/tools/fsError.js";
import { checkOutput, removeStaleTemporaries, temporaryName, writeOutput } from "../compiler/tools/writeOutput.js";

const CLI = new URL("../dist/compiler/cli.js", import.meta.url).pathname;
const QUIZ = readFileSync(new URL("../examples/quiz/model.ts", import.meta.url), "utf8");
const BAD = "export function f(x: number): number {\n  return Math.random() * x;\n}\n";
const adgen = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd, env: { ...process.env, NO_COLOR: "1" } });

beforeAll(() => {
  if (!existsSync(CLI)) spawnSync("npm", ["run", "build"], { stdio: "inherit" });
});

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function tmp(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "adgen-files-"));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A pid that is certainly not running: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  expect(r.status).toBe(0);
  return r.pid!;
}

const errnoError = (code: string, message = `${code}: something, open 'x'`) => Object.assign(new Error(message), { code });

/**
 * Runs adgen as user nobody when this process is root (for whom chmod 000 denies nothing),
 * through setpriv; undefined when that is not possible here.
 */
function adgenUnprivileged(args: string[], cwd: string) {
  const env = { ...process.env, NO_COLOR: "1" };
  if (process.getuid?.() !== 0) return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd, env });
  const setpriv = ["--reuid=65534", "--regid=65534", "--clear-groups"];
  if (spawnSync("setpriv", [...setpriv, process.execPath, "-e", ""]).status !== 0) return undefined;
  return spawnSync("setpriv", [...setpriv, process.execPath, CLI, ...args], { encoding: "utf8", cwd, env });
}

describe("describeFsError", () => {
  it("gives each errno code its own words, then the code", () => {
    const words = new Map<string, string>();
    for (const code of ["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EMFILE", "ENOSPC", "EROFS", "EIO"]) {
      const text = describeFsError(errnoError(code));
      expect(text).toMatch(new RegExp(`^[a-z].* \\(${code}\\)$`));
      expect([...words.values()], `${code}: '${text}' is another code's text`).not.toContain(text);
      words.set(code, text);
    }
    expect(words.get("EACCES")).toBe("permission denied (EACCES)");
    expect(words.get("ENOENT")).toBe("no such file (ENOENT)");
    expect(words.get("EISDIR")).not.toContain("no such file");
  });

  it("describes real node:fs errors, and codes without words of their own by the OS's text", () => {
    const dir = tmp({ "f.ts": "" });
    const thrown = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error("did not throw");
    };
    expect(describeFsError(thrown(() => readFileSync(join(dir, "nope.ts"))))).toBe("no such file (ENOENT)");
    expect(describeFsError(thrown(() => readFileSync(dir)))).toBe("it is a directory (EISDIR)");
    expect(describeFsError(thrown(() => readFileSync(join(dir, "f.ts", "x.ts"))))).toBe("a part of the path is not a directory (ENOTDIR)");
    expect(describeFsError(errnoError("EXYZ", "EXYZ: the disk is on fire, open 'x'"))).toBe("the disk is on fire (EXYZ)");
    expect(describeFsError(new Error("plain"))).toBe("plain");
  });
});

describe("reading inputs", () => {
  it("reports a missing file and a directory, each with its cause", () => {
    const dir = tmp();
    mkdirSync(join(dir, "d.ts"));
    const missing = adgen(["nope.ts"], dir);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe("error ADG0001: cannot read 'nope.ts': no such file (ENOENT)\n");
    const directory = adgen(["d.ts"], dir);
    expect(directory.status).toBe(1);
    expect(directory.stderr).toBe("error ADG0001: cannot read 'd.ts': it is a directory (EISDIR)\n");
  });

  it("reports an unreadable file as permission denied, and an unwritable directory likewise", (ctx) => {
    const dir = tmp({ "secret.ts": QUIZ, "m.ts": QUIZ });
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "secret.ts"), 0o000);
    chmodSync(join(dir, "m.ts"), 0o644);
    const r = adgenUnprivileged(["secret.ts"], dir);
    if (!r) return ctx.skip();
    expect(r.stderr).toBe("error ADG0001: cannot read 'secret.ts': permission denied (EACCES)\n");
    expect(r.status).toBe(1);
    // readable, but its directory belongs to root: refused before compiling
    chmodSync(dir, 0o555);
    const w = adgenUnprivileged(["m.ts"], dir)!;
    expect(w.stderr).toBe("error ADG0002: cannot write 'm.grad.ts': cannot create files in '.': permission denied (EACCES)\n");
    expect(w.status).toBe(1);
  });
});

describe("refusing an output that is an input", () => {
  it.each([
    ["the same name", "m.ts"],
    ["another spelling", "./m.ts"],
    ["an absolute path", "ABS"],
    ["a symbolic link to it", "link.ts"],
    ["a hard link to it", "hard.ts"],
  ])("-o naming the input by %s exits 1 and leaves the source untouched", (_, out) => {
    const dir = tmp({ "m.ts": QUIZ });
    symlinkSync("m.ts", join(dir, "link.ts"));
    linkSync(join(dir, "m.ts"), join(dir, "hard.ts"));
    const r = adgen(["m.ts", "-o", out === "ABS" ? join(dir, "m.ts") : out], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error ADG0003: cannot write '.*' because it would overwrite the input file 'm\.ts'\n\n {2}hint: \S/);
    expect(readFileSync(join(dir, "m.ts"), "utf8")).toBe(QUIZ);
    expect(readdirSync(dir).sort()).toEqual(["hard.ts", "link.ts", "m.ts"]);
  });

  it("also when one input's default output is another input", () => {
    const dir = tmp({ "a.ts": QUIZ, "a.grad.ts": "// mine\n" });
    const r = adgen(["a.ts", "a.grad.ts"], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error ADG0003: cannot write 'a.grad.ts' because it would overwrite the input file 'a.grad.ts'");
    expect(readFileSync(join(dir, "a.grad.ts"), "utf8")).toBe("// mine\n");
  });

  it("writes through a symbolic link to a file that is not an input, keeping the link", () => {
    const dir = tmp({ "m.ts": QUIZ, "real.ts": "// old\n" });
    symlinkSync("real.ts", join(dir, "link.ts"));
    const r = adgen(["m.ts", "-o", "link.ts"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "real.ts"), "utf8")).toContain("export function quizGrad(");
    expect(readdirSync(dir).sort()).toEqual(["link.ts", "m.ts", "real.ts"]);
  });
});

describe("checking the output before compiling", () => {
  it("refuses a directory, a path under a file and a trailing separator, leaving nothing behind", () => {
    const dir = tmp({ "m.ts": QUIZ });
    mkdirSync(join(dir, "outdir"));
    const cases: [string, string][] = [
      ["outdir", "error ADG0002: cannot write 'outdir': it is a directory (EISDIR)\n"],
      ["m.ts/x.ts", "error ADG0002: cannot write 'm.ts/x.ts': 'm.ts' is not a directory (ENOTDIR)\n"],
      ["m.ts/sub/x.ts", "error ADG0002: cannot write 'm.ts/sub/x.ts': 'm.ts' is not a directory (ENOTDIR)\n"],
      ["new/", "error ADG0002: cannot write 'new/': the name ends in a path separator, so it names a directory\n"],
    ];
    for (const [out, message] of cases) {
      const r = adgen(["m.ts", "-o", out], dir);
      expect(r.stderr, out).toBe(message);
      expect(r.status, out).toBe(1);
    }
    expect(readdirSync(dir).sort()).toEqual(["m.ts", "outdir"]);
    expect(readdirSync(join(dir, "outdir"))).toEqual([]);
  });

  it("an empty -o is a usage error, and leaves no temporary file in the parent directory", () => {
    const parent = tmp();
    const dir = join(parent, "work");
    mkdirSync(dir);
    writeFileSync(join(dir, "m.ts"), QUIZ);
    for (const args of [["--out=", "m.ts"], ["-o", "", "m.ts"]]) {
      const r = adgen(args, dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^adgen: (-o|--out) needs a file name\n/);
    }
    expect(readdirSync(parent)).toEqual(["work"]);
    expect(readdirSync(dir)).toEqual(["m.ts"]);
  });

  it("creates missing directories only when the module is written", () => {
    const dir = tmp({ "m.ts": QUIZ, "bad.ts": BAD });
    expect(adgen(["bad.ts", "-o", "gen/deep/bad.grad.ts"], dir).status).toBe(1);
    expect(existsSync(join(dir, "gen"))).toBe(false);
    const r = adgen(["m.ts", "-o", "gen/deep/m.grad.ts"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "gen/deep/m.grad.ts"), "utf8")).toContain("export function quizGrad(");
  });

  it("writes a pipe or device in place instead of renaming over it", async () => {
    // a FIFO of its own, not /dev/null: a regression would rename a file over the device
    const dir = tmp({ "m.ts": QUIZ });
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = spawn("cat", [fifo]);
    let received = "";
    reader.stdout.on("data", (d) => (received += d));
    const closed = new Promise<void>((done) => reader.on("close", () => done()));
    const r = adgen(["m.ts", "-o", "fifo"], dir);
    const timeout = setTimeout(() => reader.kill(), 10_000);
    await closed;
    clearTimeout(timeout);
    expect(r.status, r.stderr).toBe(0);
    expect(received).toContain("export function quizGrad(");
    expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["fifo", "m.ts"]);
  });

  it("checkOutput returns the resolved target, or a problem naming the code", () => {
    const dir = tmp({ "m.ts": QUIZ, "old.ts": "x" });
    chmodSync(join(dir, "old.ts"), 0o640);
    expect(checkOutput(join(dir, "new.ts"), [join(dir, "m.ts")])).toEqual({ kind: "target", path: join(dir, "new.ts"), inPlace: false });
    expect(checkOutput(join(dir, "old.ts"), [])).toEqual({ kind: "target", path: join(dir, "old.ts"), inPlace: false, mode: 0o640 });
    expect(checkOutput(join(dir, "m.ts"), [join(dir, "m.ts")])).toMatchObject({ kind: "problem", code: "ADG0003" });
    expect(checkOutput("", [])).toMatchObject({ kind: "problem", code: "ADG0002" });
  });
});

describe("atomic writes and temporary files", () => {
  it("keeps the previous output byte-identical when a compile fails", () => {
    const dir = tmp({ "m.ts": QUIZ });
    expect(adgen(["m.ts"], dir).status).toBe(0);
    const good = readFileSync(join(dir, "m.grad.ts"));
    writeFileSync(join(dir, "m.ts"), BAD);
    expect(adgen(["m.ts"], dir).status).toBe(1);
    expect(readFileSync(join(dir, "m.grad.ts"))).toEqual(good);
    expect(readdirSync(dir).sort()).toEqual(["m.grad.ts", "m.ts"]);
  });

  it("names its temporary file after the output, in the output's directory", () => {
    expect(temporaryName("/d/m.grad.ts", 123)).toBe("/d/.m.grad.ts.adgen-123.tmp");
  });

  it("the next run removes a temporary file left by a killed process, but not a running one's", () => {
    const dir = tmp({ "m.ts": QUIZ });
    const orphan = temporaryName(join(dir, "m.grad.ts"), deadPid());
    const live = temporaryName(join(dir, "m.grad.ts"), process.pid);
    const otherOutput = temporaryName(join(dir, "other.ts"), deadPid());
    for (const f of [orphan, live, otherOutput]) writeFileSync(f, "half a module");
    const r = adgen(["m.ts"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live)).toBe(true);
    // another output's temporary files are that output's business
    expect(existsSync(otherOutput)).toBe(true);
    expect(removeStaleTemporaries(join(dir, "other.ts"))).toEqual([otherOutput.split("/").pop()]);
  });

  it("a write that fails removes its temporary file and leaves the target as it was", () => {
    const dir = tmp();
    mkdirSync(join(dir, "target"));
    writeFileSync(join(dir, "target", "keep"), "x");
    // bypassing checkOutput: renaming a file over a non-empty directory fails
    expect(() => writeOutput({ kind: "target", path: join(dir, "target"), inPlace: false }, "text")).toThrow();
    expect(readdirSync(dir)).toEqual(["target"]);
    expect(readdirSync(join(dir, "target"))).toEqual(["keep"]);
  });

  it("keeps the permission bits of the module it replaces", () => {
    const dir = tmp({ "m.ts": QUIZ, "m.grad.ts": "old" });
    chmodSync(join(dir, "m.grad.ts"), 0o600);
    expect(adgen(["m.ts"], dir).status).toBe(0);
    expect(statSync(join(dir, "m.grad.ts")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "m.grad.ts"), "utf8")).toContain("export function quizGrad(");
  });
});
