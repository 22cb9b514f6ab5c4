// The layout of kernels without prettier (compiler/codegen/layout.ts) is prettier's, byte
// for byte: every kernel piece of the examples, the fixtures and the GradBench models, on
// both targets and in both dtypes, laid out by layOut is compared with what prettier makes
// of the same text; a piece layOut declines goes to prettier (and is counted, so that the
// test cannot pass by declining everything).

import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EntryCode, emitModuleChunks } from "../compiler/codegen/emitModule.js";
import { formatEach } from "../compiler/codegen/format.js";
import { layOut } from "../compiler/codegen/layout.js";
import { VERSION, compile } from "../compiler/pipeline.js";
import { generateProgram, printProgram } from "./fuzz/generator.js";

const root = join(import.meta.dirname, "..");
const models = [
  ...readdirSync(join(root, "examples")).map((d) => join(root, "examples", d, "model.ts")),
  ...readdirSync(join(root, "test/fixtures")).map((d) => join(root, "test/fixtures", d, "model.ts")),
  ...readdirSync(join(root, "gradbench")).map((d) => join(root, "gradbench", d, "model.ts")),
].filter((f) => existsSync(f));

describe("kernels laid out without prettier", () => {
  it("layOut declines what prettier would break or join, and lays out the rest as prettier does", () => {
    expect(layOut("function f(x: Float64Array): void {\nfor (let k = 0; k < 4; k++) {\nx[k] = 0;\n}\n}\n")).toBe(
      "function f(x: Float64Array): void {\n  for (let k = 0; k < 4; k++) {\n    x[k] = 0;\n  }\n}\n");
    // blank lines: none at a block's start or end, one between statements
    expect(layOut("{\n\nconst a = 1;\n\n\nconst b = 2;\n\n}\n")).toBe("{\n  const a = 1;\n\n  const b = 2;\n}\n");
    expect(layOut("if (x) { y(); }\n")).toBeUndefined(); // a block on one line
    expect(layOut("const s = f(\na);\n")).toBeUndefined(); // a statement over two lines
    expect(layOut(`const s = "${"x".repeat(100)}";\n`)).toBeUndefined(); // over 100 columns
    expect(layOut("/**\n * doc\n */\nfunction f(): void {\n}\n")).toBeUndefined(); // a comment over lines
    expect(layOut("{\n")).toBeUndefined(); // unbalanced
  });

  it.each(models.map((f) => [f.slice(root.length + 1), f]))("%s: every kernel laid out is prettier's", async (_, file) => {
    await checkKernels(readFileSync(file, "utf8"), true);
  });

  it("the fuzzer's programs (random layer shapes, strides, paddings, run-time sizes): every kernel laid out is prettier's", async () => {
    let n = 0;
    for (let seed = 1; n < 20 && seed < 400; seed++) {
      const source = printProgram(generateProgram(seed));
      if (!/conv2d|linear|maxpool2d|avgpool2d|softmax|crossEntropy/.test(source)) continue;
      n++;
      await checkKernels(source, false);
    }
    expect(n).toBe(20);
  });
});

async function checkKernels(source: string, most: boolean): Promise<void> {
  {
    let laidOut = 0;
    let kernels = 0;
    for (const [target, dtype] of [["ts", "float64"], ["wasm", "float32"]] as const) {
      const r = await compile(source, { fileName: "model.ts", target, dtype });
      expect(r.diagnostics).toEqual([]);
      const pieces = emitModuleChunks(r.entries as unknown as EntryCode[], { fileName: "model.ts", sourceText: source, dtype, version: VERSION, target })
        .filter((p) => p.kernel);
      kernels += pieces.length;
      const mine = pieces.map((p) => layOut(p.text));
      const theirs = await formatEach(pieces.map((p) => p.text));
      mine.forEach((m, k) => {
        if (m === undefined) return;
        laidOut++;
        expect(m, `kernel piece ${k} (${target}, ${dtype})`).toBe(theirs[k]);
      });
    }
    // (most kernels need no line broken: the test would be empty if layOut declined them all)
    if (most && kernels >= 4) expect(laidOut, `${laidOut} of ${kernels} kernel pieces laid out`).toBeGreaterThan(kernels / 2);
  }
}
