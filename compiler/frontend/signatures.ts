// Types written in the DSL (`number`, `Tensor<[3, 28, 28]>`, local aliases of them) and the
// `@wrt` tag of an entry point.

import ts, { type TS } from "./ts.js";
import { Dim, F64, Type, showType, tensorType, typeEquals } from "../ir/types.js";
import { DiagnosticCode } from "./diagnostics.js";
import { Source } from "./source.js";

export interface EntryParam {
  readonly name: string;
  readonly type: Type;
}

/** The dimensions a function's type parameters stand for (an entry's `N`, a helper's bound to its caller's). */
export type DimBindings = ReadonlyMap<TS.Symbol, Dim>;

const NO_DIMS: DimBindings = new Map();

/** The IR type a type annotation denotes. */
export function typeFromNode(
  src: Source, tensorTypes: ReadonlySet<TS.Symbol>, node: TS.TypeNode | undefined, what: string, at: TS.Node,
  code: DiagnosticCode = "ADG1010", dims: DimBindings = NO_DIMS,
): Type {
  // a helper's tuple of numbers or of tensors of one shape ([Tensor<[H]>, Tensor<[H]>]) is
  // packed into one tensor with a leading dimension of the tuple's length
  if (node && ts.isTupleTypeNode(node) && code === "ADG1011") {
    const parts = node.elements.map((el) => typeFromNode(src, tensorTypes, ts.isNamedTupleMember(el) ? el.type : el, what, el, code, dims));
    if (parts.length === 0) return src.fail(node, code, `${what} is an empty tuple.`, "Return a number, a tensor or a tuple of them.");
    const first = parts[0]!;
    if (!parts.every((p) => typeEquals(p, first))) {
      return src.fail(node, code, `${what} is a tuple of different types (${parts.map(showType).join(", ")}).`,
        "A tuple returned by a helper holds numbers, or tensors of one shape; return the others from another helper.");
    }
    return tensorType([parts.length, ...(first.kind === "tensor" ? first.shape : [])]);
  }
  const tensor = tensorNode(src, tensorTypes, node, what, at, code);
  if (tensor === "number") return F64;
  return tensorOf(src, tensor, what, dims);
}

/**
 * The `Tensor<[...]>` reference a type annotation denotes (following local aliases), or
 * "number".
 */
export function tensorNode(
  src: Source, tensorTypes: ReadonlySet<TS.Symbol>, node: TS.TypeNode | undefined, what: string, at: TS.Node,
  code: DiagnosticCode = "ADG1010",
): TS.TypeReferenceNode | "number" {
  // follow local type aliases (a loop, not recursion: an alias chain is as long as the file)
  for (let seen = 0; ; seen++) {
    if (!node) return src.fail(at, code, `${what} has no type annotation.`, "Annotate it as number or Tensor<[d0, d1, ...]>.");
    if (node.kind === ts.SyntaxKind.NumberKeyword) return "number";
    if (ts.isTypeReferenceNode(node)) {
      const sym = src.symbolOf(node.typeName);
      if (sym && tensorTypes.has(sym)) return node;
      const decl = sym?.declarations?.[0];
      if (decl && ts.isTypeAliasDeclaration(decl) && decl.getSourceFile() === src.sourceFile && !decl.typeParameters && seen < 1000) {
        node = decl.type;
        continue;
      }
    }
    return src.fail(node, code, `${what} is '${src.text(node)}', which the DSL does not support.`,
      code === "ADG1011"
        ? "DSL functions return number or Tensor<[d0, d1, ...]> (literal dimensions, or type parameters such as N)."
        : "Parameters are number or Tensor<[d0, d1, ...]> (literal dimensions, or type parameters such as N).");
  }
}

/** The dimension elements of a Tensor<[...]> reference. */
export function dimNodes(src: Source, node: TS.TypeReferenceNode, what: string): readonly TS.TypeNode[] {
  const arg = node.typeArguments?.[0];
  if (!arg || !ts.isTupleTypeNode(arg)) {
    return src.fail(node, "ADG1010", `${what}: Tensor needs a tuple of dimensions.`, "Write Tensor<[3, 28, 28]> or Tensor<[N, 784]>.");
  }
  if (arg.elements.length === 0) return src.fail(node, "ADG1010", `${what}: a tensor needs at least one dimension.`, "Use number for a scalar.");
  return arg.elements;
}

/** The type parameter a dimension names (`N` in Tensor<[N, 784]>), if it names one. */
export function dimParam(src: Source, el: TS.TypeNode): TS.Symbol | undefined {
  if (!ts.isTypeReferenceNode(el) || el.typeArguments) return undefined;
  const sym = src.symbolOf(el.typeName);
  const decl = sym?.declarations?.[0];
  return decl && ts.isTypeParameterDeclaration(decl) ? sym : undefined;
}

function tensorOf(src: Source, node: TS.TypeReferenceNode, what: string, dims: DimBindings): Type {
  const shape = dimNodes(src, node, what).map((el): Dim => {
    const param = dimParam(src, el);
    if (param) {
      const d = dims.get(param);
      if (d === undefined) {
        return src.fail(el, "ADG1010", `${what}: the size '${src.text(el)}' is not bound here.`,
          "A size is a type parameter of the function, bound by a parameter's shape: f<N extends number>(x: Tensor<[N]>).");
      }
      return d;
    }
    const lit = ts.isLiteralTypeNode(el) ? el.literal : undefined;
    const v = lit && ts.isNumericLiteral(lit) ? Number(lit.text) : NaN;
    if (!Number.isInteger(v) || v < 1) {
      src.fail(el, "ADG1010", `${what}: a tensor dimension must be a positive integer literal or a size (a type parameter N).`,
        "Write Tensor<[3, 28, 28]>, or Tensor<[N, 784]> with <N extends number> on the function.");
    }
    return v;
  });
  return tensorType(shape);
}

/**
 * The sizes of a function's type parameters, each `<N extends number>`: the entry's are
 * symbols of their own name; a diagnostic for any other kind of type parameter.
 */
export function sizeParams(src: Source, fn: TS.FunctionDeclaration): TS.TypeParameterDeclaration[] {
  const out: TS.TypeParameterDeclaration[] = [];
  for (const tp of fn.typeParameters ?? []) {
    if (!tp.constraint || tp.constraint.kind !== ts.SyntaxKind.NumberKeyword || tp.default) {
      src.fail(tp, "ADG1022", `The type parameter '${tp.name.text}' of '${fn.name?.text ?? "f"}' is not a size.`,
        `A DSL function's type parameters are sizes: <${tp.name.text} extends number>, with no default.`);
    }
    out.push(tp);
  }
  return out;
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
