// Module-level constants: `const N = 4;`, computed from literals, other constants, Math
// constants and Math functions when the file is lowered.

import ts, { type TS } from "./ts.js";
import { Source } from "./source.js";

/** Math's numeric constants, as the DSL reads them (Math.PI ...). */
export const MATH_CONSTANTS: Readonly<Record<string, number>> = {
  PI: Math.PI, E: Math.E, LN2: Math.LN2, LN10: Math.LN10, LOG2E: Math.LOG2E, LOG10E: Math.LOG10E,
  SQRT2: Math.SQRT2, SQRT1_2: Math.SQRT1_2,
};

/** Number's numeric constants (Number.EPSILON ...). */
export const NUMBER_CONSTANTS: Readonly<Record<string, number>> = {
  EPSILON: Number.EPSILON, MAX_VALUE: Number.MAX_VALUE, MIN_VALUE: Number.MIN_VALUE,
  MAX_SAFE_INTEGER: Number.MAX_SAFE_INTEGER, MIN_SAFE_INTEGER: Number.MIN_SAFE_INTEGER,
  POSITIVE_INFINITY: Number.POSITIVE_INFINITY, NEGATIVE_INFINITY: Number.NEGATIVE_INFINITY, NaN: Number.NaN,
};

const ARITHMETIC: Partial<Record<TS.SyntaxKind, (a: number, b: number) => number>> = {
  [ts.SyntaxKind.PlusToken]: (a, b) => a + b,
  [ts.SyntaxKind.MinusToken]: (a, b) => a - b,
  [ts.SyntaxKind.AsteriskToken]: (a, b) => a * b,
  [ts.SyntaxKind.SlashToken]: (a, b) => a / b,
  [ts.SyntaxKind.AsteriskAsteriskToken]: (a, b) => a ** b,
  [ts.SyntaxKind.PercentToken]: (a, b) => a % b,
};

/**
 * The value of a module-level constant expression. Nested parentheses and operators are
 * walked with an explicit stack, so a deeply nested constant cannot overflow the call stack.
 */
export function evalConst(e: TS.Expression, src: Source, constants: ReadonlyMap<TS.Symbol, number>): number {
  type Frame = { node: TS.Expression; state: number; values: number[] };
  const stack: Frame[] = [{ node: e, state: 0, values: [] }];
  let result = NaN;
  const give = (v: number): void => {
    stack.pop();
    if (stack.length) stack[stack.length - 1]!.values.push(v);
    else result = v;
  };
  const bad = (node: TS.Node): never =>
    src.fail(node, "ADG1023", "A module-level constant must be a number computed from literals and other constants.",
      "Move computations on inputs into a function.");
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    const n = f.node;
    const operands: TS.Expression[] = [];
    let finish: ((xs: number[]) => number) | undefined;
    if (ts.isNumericLiteral(n)) {
      give(Number(n.text.replace(/_/g, "")));
      continue;
    }
    if (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isSatisfiesExpression(n)) {
      operands.push(n.expression);
      finish = ([x]) => x!;
    } else if (ts.isPrefixUnaryExpression(n) && (n.operator === ts.SyntaxKind.MinusToken || n.operator === ts.SyntaxKind.PlusToken)) {
      operands.push(n.operand);
      finish = n.operator === ts.SyntaxKind.MinusToken ? ([x]) => -x! : ([x]) => x!;
    } else if (ts.isIdentifier(n)) {
      const sym = src.symbolOf(n);
      if (n.text === "Infinity") give(Infinity);
      else if (n.text === "NaN") give(NaN);
      else if (sym && constants.has(sym)) give(constants.get(sym)!);
      else bad(n);
      continue;
    } else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === "Math" && n.name.text in MATH_CONSTANTS) {
      give(MATH_CONSTANTS[n.name.text]!);
      continue;
    } else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === "Number" && n.name.text in NUMBER_CONSTANTS) {
      give(NUMBER_CONSTANTS[n.name.text]!);
      continue;
    } else if (ts.isBinaryExpression(n) && ARITHMETIC[n.operatorToken.kind]) {
      const op = ARITHMETIC[n.operatorToken.kind]!;
      operands.push(n.left, n.right);
      finish = ([a, b]) => op(a!, b!);
    } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && ts.isIdentifier(n.expression.expression) &&
      n.expression.expression.text === "Math") {
      const fn = (Math as unknown as Record<string, (...a: number[]) => number>)[n.expression.name.text];
      if (n.expression.name.text === "random" || typeof fn !== "function") bad(n);
      operands.push(...n.arguments);
      finish = (xs) => fn!(...xs);
    } else {
      bad(n);
    }
    if (f.state < operands.length) {
      stack.push({ node: operands[f.state]!, state: 0, values: [] });
      f.state++;
    } else {
      give(finish!(f.values));
    }
  }
  return result;
}
