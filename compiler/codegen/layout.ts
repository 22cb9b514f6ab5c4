// The layout prettier gives a kernel, without prettier, where that is only indentation.
//
// The kernel writer (kernels/writer.ts) emits one statement per line, braces at the ends
// of lines, in prettier's style but indented for its own nesting: prettier would only
// re-indent it, drop blank lines at the start and end of blocks and break lines over 100
// columns. layOut does the first two and gives up (undefined: prettier formats the piece)
// on anything else: a code line longer than 100 columns once indented, a line that does
// not end a statement or a block, a comment over several lines. test/format.test.ts checks
// that every kernel piece of the examples, fixtures, GradBench models and fuzzer programs laid out here is byte for byte what
// prettier makes of it. Formatting a kernel is most of prettier's time in a compile.

const WIDTH = 100;

export function layOut(text: string): string | undefined {
  const out: string[] = [];
  let depth = 0;
  let blank = false;
  // (prettier keeps one blank line between statements, none at a block's start or end)
  const push = (line: string, closes: boolean): void => {
    if (blank && !closes && !out[out.length - 1]!.endsWith("{")) out.push("");
    blank = false;
    out.push("  ".repeat(depth) + line);
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") {
      blank = out.length > 0;
      continue;
    }
    // a comment line (prettier never breaks one): only indented
    if (line.startsWith("//") || (line.startsWith("/*") && line.indexOf("*/") === line.length - 2)) {
      push(line, false);
      continue;
    }
    // the code of a line with a comment after it (no string before the comment)
    const at = line.indexOf(" // ");
    if (at >= 0 && /["'`]/.test(line.slice(0, at))) return undefined;
    const code = at >= 0 ? line.slice(0, at) : line;
    if (!/[{};]$/.test(code) || /[`']|\/\*|\*\//.test(code)) return undefined;
    // a code line opens a block at its end or closes one at its start, nothing else (a
    // block or an object on one line is prettier's to break)
    const closes = code.startsWith("}");
    const opens = code.endsWith("{");
    if (/[{}]/.test(code.slice(closes ? 1 : 0, opens ? -1 : undefined))) return undefined;
    if (closes && --depth < 0) return undefined;
    push(line, closes);
    if (out[out.length - 1]!.length > WIDTH) return undefined;
    if (opens) depth++;
  }
  return depth === 0 && out.length ? out.join("\n") + "\n" : undefined;
}
