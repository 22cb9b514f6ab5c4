// Types written in the DSL (`number`, `Tensor<[3, 28, 28]>`, local aliases of them) and the
// `@wrt` tag of an entry point.

import ts, { type TS } from "./ts.js";
import { F64, Type, tensorType } from "../ir/types.js";
import { DiagnosticCode } from "./diagnostics.js";
import { Source } from "./source.js";

export interface EntryParam {
  readonly name: string;
  readonly type: Type;
}

/** The IR type a type annotation denotes. */
export function typeFromNode(
  src: Source, tensorTypes: ReadonlySet<TS.Symbol>, node: TS.TypeNode | undefined, what: string, at: TS.Node,
  code: DiagnosticCode = "ADG1010",
): Type {
  // follow local type aliases (a loop, not recursion: an alias chain is as long as the file)
  for (let seen = 0; ; seen++) {
    if (!node) return src.fail(at, code, `${what} has no type annotation.`, "Annotate it as number or Tensor<[d0, d1, ...]>.");
    if (node.kind === ts.SyntaxKind.NumberKeyword) return F64;
    if (ts.isTypeReferenceNode(node)) {
      const sym = src.symbolOf(node.typeName);
      if (sym && tensorTypes.has(sym)) return tensorOf(src, node, what);
      const decl = sym?.declarations?.[0];
      if (decl && ts.isTypeAliasDeclaration(decl) && decl.getSourceFile() === src.sourceFile && seen < 1000) {
        node = decl.type;
        continue;
      }
    }
    return src.fail(node, code, `${what} is '${src.text(node)}', which the DSL does not support.`,
      code === "ADG1011"
        ? "DSL functions return number or Tensor<[d0, d1, ...]> with literal dimensions."
        : "Parameters are number or Tensor<[d0, d1, ...]> with literal dimensions.");
  }
}

function tensorOf(src: Source, node: TS.TypeReferenceNode, what: string): Type {
  const arg = node.typeArguments?.[0];
  if (!arg || !ts.isTupleTypeNode(arg)) {
    return src.fail(node, "ADG1010", `${what}: Tensor needs a tuple of dimensions.`, "Write Tensor<[3, 28, 28]>.");
  }
  const dims = arg.elements.map((el) => {
    const lit = ts.isLiteralTypeNode(el) ? el.literal : undefined;
    const v = lit && ts.isNumericLiteral(lit) ? Number(lit.text) : NaN;
    if (!Number.isInteger(v) || v < 1) {
      src.fail(el, "ADG1010", `${what}: a tensor dimension must be a positive integer literal.`, "Write Tensor<[3, 28, 28]> with literal sizes.");
    }
    return v;
  });
  if (dims.length === 0) return src.fail(node, "ADG1010", `${what}: a tensor needs at least one dimension.`, "Use number for a scalar.");
  return tensorType(dims);
}

/** The parameter names of a `/** @wrt a, b *\/` tag, or null when there is none. */
export function wrtTag(src: Source, fn: TS.FunctionDeclaration, params: readonly EntryParam[]): string[] | null {
  const tags = ts.getJSDocTags(fn).filter((t) => t.tagName.text === "wrt");
  if (tags.length === 0) return null;
  const names: string[] = [];
  for (const tag of tags) {
    const text = typeof tag.comment === "string" ? tag.comment : ts.getTextOfJSDocComment(tag.comment) ?? "";
    for (const n of text.split(/[\s,]+/).filter(Boolean)) {
      if (!params.some((q) => q.name === n)) {
        src.fail(tag, "ADG1019", `@wrt names '${n}', which is not a parameter of '${fn.name!.text}'.`,
          `Parameters: ${params.map((q) => q.name).join(", ")}.`);
      }
      if (!names.includes(n)) names.push(n);
    }
  }
  if (names.length === 0) src.fail(tags[0]!, "ADG1019", "@wrt lists no parameters.", "Write /** @wrt w, b */.");
  return names;
}
