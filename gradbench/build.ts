// `npm run gradbench:build`: compiles every eval's model.ts here into model.grad.ts with adgen's
// CLI (dist/compiler/cli.js, built by `npm run build`), once, at build time: the tool then
// imports the generated modules and never compiles per input. A model whose model.grad.ts is
// newer than both it and the compiler is skipped, so the tool starts at once after the
// first build. The tool (tool.ts) runs the same check when it starts. Progress goes to stderr: stdout stays free for the tool's protocol.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const cli = join(root, "dist", "compiler", "cli.js");

/** The newest modification time of the files under dir (the compiler build). */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) t = Math.max(t, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return t;
}

/** Compiles the models whose generated module is missing or stale; false when adgen reported errors. */
export function buildModels(): boolean {
  if (!existsSync(cli)) execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: ["ignore", 2, 2] });
  const compiler = newest(dirname(cli));
  const models = readdirSync(here, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(here, e.name, "model.ts")))
    .map((e) => join(here, e.name, "model.ts"));
  const stale = models.filter((model) => {
    const out = model.replace(/\.ts$/, ".grad.ts");
    return !existsSync(out) || statSync(out).mtimeMs < Math.max(statSync(model).mtimeMs, compiler);
  });
  if (stale.length === 0) return true;
  // adgen reports a model's errors itself (file:line:col and a code frame) and exits 1
  try {
    execFileSync(process.execPath, [cli, ...stale.map((m) => relative(root, m))], { cwd: root, stdio: ["ignore", 2, 2] });
    return true;
  } catch {
    return false;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!buildModels()) process.exitCode = 1;
}
