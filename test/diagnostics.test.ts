// Diagnostics: a table of bad DSL inputs, each with the code adgen must report, the 1-based
// line and column of the offending construct, words the message must contain (the names and
// shapes involved) and, for some, words the hint must contain. Then the command line: exit
// status 1, TypeScript-style output with a code frame and a hint, no stack trace, and a
// previous output file left byte-identical when a compile fails.
//
// docs/diagnostics.md documents every code; a test below checks that it has a section for
// each entry of the catalog.
//
// The table also holds the cases an earlier review found wrong (now fixed): colliding
// generated names (ADG1020), foreign imports before TypeScript's errors (ADG1013), declared
// return types (ADG1011), indices a static loop bound puts out of range (ADG1009), and
// tensors aliased through if, ?: or a loop (ADG1016).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIAGNOSTICS, DiagnosticCode } from "../compiler/frontend/diagnostics.js";
import { compile } from "../compiler/pipeline.js";

// ------------------------------------------------------------------------------- sources
// Every source starts with this import on line 1; `entry` puts `export function f(...)` on
// line 2, so the body's first line is line 3.

const IMPORT =
  `import { type Tensor, add, conv2d, crossEntropy, dot, flatten, linear, maxpool2d, mul, relu, sum, zeros } from "adgen";`;

function src(...lines: string[]): string {
  return [IMPORT, ...lines].join("\n") + "\n";
}

function entry(params: string, body: string[], ret = ": number"): string {
  return src(`export function f(${params})${ret} {`, ...body, "}");
}

interface Case {
  readonly name: string;
  readonly code: DiagnosticCode;
  readonly source: string;
  /** 1-based; 0 for diagnostics about the whole file. */
  readonly line: number;
  readonly col: number;
  /** Substrings the message must contain. */
  readonly message: readonly string[];
  /** Substrings the hint must contain. */
  readonly hint?: readonly string[];
}

const c = (
  code: DiagnosticCode, name: string, source: string, line: number, col: number,
  message: readonly string[], hint?: readonly string[],
): Case => ({ code, name, source, line, col, message, hint });

const LOOP = (header: string, ...body: string[]): string[] => [
  "  let s = x;", `  for (${header}) {`, ...body, "  }", "  return s;",
];

const CASES: readonly Case[] = [
  // ------------------------------------------------------------------ ADG1001 type errors
  c("ADG1001", "a string assigned to a number", entry("x: number", ['  const y: number = "a";', "  return x + y;"]), 3, 9,
    ["Type 'string' is not assignable to type 'number'", "TS2322"], ["type-check"]),
  c("ADG1001", "an undeclared name", entry("x: number", ["  return x * q;"]), 3, 14, ["Cannot find name 'q'", "TS2304"]),
  c("ADG1001", "a builtin called with too many arguments", entry("x: Tensor<[3]>", ["  return sum(x, 2);"]), 3, 17,
    ["Expected 1 arguments, but got 2", "TS2554"]),
  c("ADG1001", "a syntax error", entry("x: number", ["  return x * ;"]), 3, 14, ["Expression expected", "TS1109"]),
  c("ADG1001", "a parameter without a type (implicit any)", entry("x", ["  return x * 2;"]), 2, 19,
    ["Parameter 'x' implicitly has an 'any' type", "TS7006"]),
  c("ADG1001", "a variable read before assignment (TypeScript's check)", entry("x: number", ["  let y: number;", "  return y + x;"]), 4, 10,
    ["'y' is used before being assigned", "TS2454"]),
  c("ADG1001", "+ on two tensors", entry("x: Tensor<[3]>", ["  const y = x + x;", "  return sum(y);"]), 3, 13,
    ["Operator '+' cannot be applied", "number[]", "TS2365"]),
  c("ADG1001", "importing a name adgen does not export",
    ['import { type Tensor, softplus } from "adgen";', "export function f(x: number): number {", "  return x;", "}", ""].join("\n"), 1, 23,
    ["softplus", "TS2305"]),

  // ------------------------------------------------------------------ ADG1002 statements
  c("ADG1002", "a class declared in a function", entry("x: number", ["  class A {}", "  return x;"]), 3, 3,
    ["class declaration"], ["Classes"]),
  c("ADG1002", "try/catch", entry("x: number", ["  try {", "    x = x * 2;", "  } catch (e) {", "    x = 0;", "  }", "  return x;"]), 3, 3,
    ["try statement"], ["try/catch"]),
  c("ADG1002", "throw", entry("x: number", ['  if (x < 0) throw new Error("negative");', "  return x;"]), 3, 14, ["throw statement"]),
  c("ADG1002", "for-of", entry("x: Tensor<[3]>", ["  let s = 0;", "  for (const v of x) {", "    s += v;", "  }", "  return s;"]), 4, 3,
    ["for of statement"]),
  c("ADG1002", "for-in", entry("x: Tensor<[3]>", ["  let s = 0;", "  for (const k in x) {", "    s += 1;", "  }", "  return s;"]), 4, 3,
    ["for in statement"]),
  c("ADG1002", "var", entry("x: number", ["  var y = x;", "  return y;"]), 3, 3, ["`var`"], ["let or const"]),
  c("ADG1002", "switch", entry("x: number", ["  switch (x) {", "    case 1:", "      return 1;", "  }", "  return x;"]), 3, 3,
    ["switch statement"], ["if/else"]),
  c("ADG1002", "a function declared inside a function",
    entry("x: number", ["  function g(y: number): number { return y; }", "  return g(x);"]), 3, 3, ["function declaration"], ["top level"]),
  c("ADG1002", "an expression statement with no effect", entry("x: number", ["  x + 1;", "  return x;"]), 3, 3, ["no effect"]),
  c("ADG1002", "a call whose result is dropped", entry("x: number", ["  Math.exp(x);", "  return x;"]), 3, 3, ["result is not used"]),
  c("ADG1002", "object destructuring", entry("x: number", ["  const { a } = { a: x };", "  return a;"]), 3, 9, ["Destructuring"]),
  c("ADG1011", "a tuple of a number and a tensor",
    src("function g(x: Tensor<[2]>): [number, Tensor<[2]>] {", "  return [x[0], x];", "}",
      "export function f(x: Tensor<[2]>): number {", "  const [a, b] = g(x);", "  return a + sum(b);", "}"), 2, 29, ["tuple of different types"],
    ["tensors of one shape"]),
  c("ADG1002", "a labeled block", entry("x: number", ["  outer: {", "    x += 1;", "  }", "  return x;"]), 3, 3,
    ["labeled statement"]),

  // ------------------------------------------------------------------ ADG1003 expressions
  c("ADG1003", "a string literal", entry("x: number", ['  const s = "hello";', "  return x;"]), 3, 13, ["Strings"], ["numbers and tensors"]),
  c("ADG1003", "a template string", entry("x: number", ["  const s = `v${x}`;", "  return x;"]), 3, 13, ["Strings"]),
  c("ADG1003", "an entry point returning a string", entry("x: number", ['  return "a";'], ""), 3, 10, ["Strings"]),
  c("ADG1003", "eval", entry("x: number", ['  return eval("x");']), 3, 10, ["eval"]),
  c("ADG1003", "eval in a helper",
    src("function g(a: number): number {", '  return eval("a");', "}", "export function f(x: number): number {", "  return g(x);", "}"), 3, 10,
    ["eval"]),
  c("ADG1003", "Function(...)", entry("x: number", ['  const g = Function("return 1") as () => number;', "  return g() * x;"]), 3, 13,
    ["Function"]),
  c("ADG1003", "a bitwise operator", entry("x: number", ["  return x | 0;"]), 3, 12, ["'|'"]),
  c("ADG1003", "typeof", entry("x: number", ["  const t = typeof x;", "  return x;"]), 3, 13, ["type of expression"]),
  c("ADG1003", "a boolean value", entry("x: number", ["  const t = true;", "  return x;"]), 3, 13, ["Boolean"]),
  c("ADG1003", "new Float64Array", entry("x: number", ["  const a = new Float64Array(3);", "  return x;"]), 3, 13, ["`new`"], ["zeros"]),
  c("ADG1003", "new Map", entry("x: number", ["  const m = new Map<number, number>();", "  return x;"]), 3, 13, ["`new`"]),
  c("ADG1003", "a class expression", entry("x: number", ["  const C = class {};", "  return x;"]), 3, 13, ["class expression"]),
  c("ADG1003", "an object literal", entry("x: number", ["  const o = { a: x };", "  return o.a;"]), 3, 13, ["Object literals"]),
  c("ADG1003", "an array literal (before push)", entry("x: number", ["  const a: number[] = [];", "  a.push(x);", "  return x;"]), 3, 23,
    ["empty array"], ["zeros"]),
  c("ADG1003", "undefined", entry("x: number", ["  const u = undefined;", "  return x;"]), 3, 13, ["undefined"]),
  c("ADG1003", "null", entry("x: number", ["  const u = null;", "  return x;"]), 3, 13, ["null"]),
  c("ADG1003", "an assignment used as a value", entry("x: number", ["  let y = 0;", "  const z = (y = x);", "  return z;"]), 4, 14,
    ["assignment cannot be used as a value"]),
  c("ADG1003", "x++ used as a value", entry("x: number", ["  let y = x;", "  const z = y++;", "  return z;"]), 4, 13, ["Increment"]),
  c("ADG1003", "a number as an if condition", entry("x: number", ["  if (x) {", "    return 1;", "  }", "  return x;"]), 3, 7, ["condition"]),
  c("ADG1003", "a number as a ?: condition", entry("x: number", ["  return x ? x : 0;"]), 3, 10, ["condition"]),
  c("ADG1003", "comparing tensors", entry("x: Tensor<[3]>", ["  const y = x > x ? 1 : 0;", "  return y;"]), 3, 13,
    ["Comparisons take two numbers"]),
  c("ADG1003", "||=", entry("x: number", ["  let y = x;", "  y ||= 2;", "  return y;"]), 4, 3, ["'||='"]),

  // ------------------------------------------------------------------ ADG1004 unknown functions
  c("ADG1004", "Number(x)", entry("x: number", ["  return Number(x);"]), 3, 10, ["Unknown function 'Number'"]),
  c("ADG1004", "parseFloat", entry("x: number", ['  return parseFloat("1") * x;']), 3, 10, ["Unknown function 'parseFloat'"]),
  c("ADG1004", "isNaN", entry("x: number", ["  return isNaN(x) ? 0 : x;"]), 3, 10, ["Unknown function 'isNaN'"]),
  c("ADG1004", "an unsupported Math function", entry("x: number", ["  return Math.clz32(x);"]), 3, 10, ["Math.clz32"], ["exp log"]),
  c("ADG1004", "a Math function used as a value", entry("x: number", ["  const m = Math.exp;", "  return m(x);"]), 3, 13, ["Math.exp"]),
  c("ADG1004", "an arrow function called in place", entry("x: number", ["  return ((y: number) => y)(x);"]), 3, 11, ["Only named functions"]),
  c("ADG1004", "a call of a ?: expression",
    src("function g(a: number): number {", "  return a;", "}", "function h(a: number): number {", "  return -a;", "}",
      "export function f(x: number): number {", "  return (x > 0 ? g : h)(x);", "}"), 9, 11, ["Only named functions"]),

  // ------------------------------------------------------------------ ADG1005 recursion
  c("ADG1005", "a recursive helper",
    src("function fact(n: number): number {", "  return n <= 1 ? 1 : n * fact(n - 1);", "}",
      "export function f(x: number): number {", "  return fact(x);", "}"), 3, 27, ["'fact'", "recursion"], ["loop"]),
  c("ADG1005", "an entry point calling itself", entry("x: number", ["  return x > 0 ? f(x - 1) : x;"]), 3, 18, ["'f'", "recursion"]),
  c("ADG1005", "mutual recursion",
    src("function a(x: number): number {", "  return b(x);", "}", "function b(x: number): number {", "  return a(x);", "}",
      "export function f(x: number): number {", "  return a(x);", "}"), 6, 10, ["'a'", "recursion"]),

  // ------------------------------------------------------------------ ADG1006 non-static bounds
  c("ADG1006", "a size used as a fraction", entry("x: Tensor<[N]>", ["  return sum(zeros([x.length * 0.5]));"]).replace("export function f(", "export function f<N extends number>("), 3, 21,
    ["dimension", "size"]),
  c("ADG1006", "zeros with a dimension read from data", entry("x: Tensor<[3]>", ["  return sum(zeros([x[0]]));"]), 3, 21,
    ["dimension", "size"], ["x.length"]),
  c("ADG1006", "a conv2d stride that is a parameter",
    entry("x: Tensor<[1, 4, 4]>, w: Tensor<[1, 1, 2, 2]>, s: number", ["  return sum(conv2d(x, w, undefined, { stride: s }));"]), 3, 48,
    ["option"]),
  c("ADG1006", "a flatten startDim that is a parameter", entry("x: Tensor<[2, 3]>, d: number", ["  return sum(flatten(x, d));"]), 3, 25,
    ["startDim"]),

  // ------------------------------------------------------------------ ADG1007 return in a loop
  c("ADG1007", "return of a tensor inside a loop of a helper without a return type",
    src("function g(x: Tensor<[3]>) {", "  for (let i = 0; i < 3; i++) {", "    if (x[i] > 0) return x;", "  }", "  return x;", "}",
      "export function f(x: Tensor<[3]>): number {", "  return sum(g(x));", "}"), 3, 3, ["return inside a loop", "return type"],
    ["Tensor<[N]>"]),

  // ------------------------------------------------------------------ ADG1008 shape mismatch
  c("ADG1008", "conv2d weight with the wrong channel count",
    entry("x: Tensor<[3, 8, 8]>, w: Tensor<[4, 2, 3, 3]>", ["  const y = conv2d(x, w);", "  return sum(y);"]), 3, 13,
    ["3 channels", "[3, 8, 8]", "[4, 2, 3, 3]", "expects 2"], ["[O, C, KH, KW]"]),
  c("ADG1008", "conv2d bias of the wrong size",
    entry("x: Tensor<[3, 8, 8]>, w: Tensor<[4, 3, 3, 3]>, b: Tensor<[5]>", ["  return sum(conv2d(x, w, b));"]), 3, 14,
    ["[4]", "[4, 3, 3, 3]", "[5]"]),
  c("ADG1008", "a conv2d kernel larger than the input",
    entry("x: Tensor<[3, 2, 2]>, w: Tensor<[4, 3, 3, 3]>", ["  return sum(conv2d(x, w));"]), 3, 14, ["3x3", "[3, 2, 2]"]),
  c("ADG1008", "linear with the wrong input size", entry("x: Tensor<[5]>, w: Tensor<[3, 4]>", ["  const y = linear(x, w);", "  return sum(y);"]), 3, 13,
    ["[5]", "[3, 4]", "4 inputs"], ["[out, in]"]),
  c("ADG1008", "linear bias of the wrong size",
    entry("x: Tensor<[4]>, w: Tensor<[3, 4]>, b: Tensor<[4]>", ["  return sum(linear(x, w, b));"]), 3, 14, ["[3]", "[3, 4]", "[4]"]),
  c("ADG1008", "add of two shapes", entry("a: Tensor<[2, 3]>, b: Tensor<[3, 2]>", ["  const c = add(a, b);", "  return sum(c);"]), 3, 13,
    ["[2, 3]", "[3, 2]"], ["one shape"]),
  c("ADG1008", "mul of two lengths", entry("a: Tensor<[4]>, b: Tensor<[5]>", ["  return sum(mul(a, b));"]), 3, 14, ["[4]", "[5]"]),
  c("ADG1008", "dot of two lengths", entry("a: Tensor<[4]>, b: Tensor<[5]>", ["  return dot(a, b);"]), 3, 10, ["[4]", "[5]"]),
  c("ADG1008", "a pooling window larger than the input", entry("x: Tensor<[1, 2, 2]>", ["  return sum(maxpool2d(x, { size: 3 }));"]), 3, 14,
    ["3x3", "[1, 2, 2]"]),
  c("ADG1008", "a pooling stride of 0", entry("x: Tensor<[4, 4]>", ["  return sum(maxpool2d(x, { size: 2, stride: 0 }));"]), 3, 14,
    ["positive"]),
  c("ADG1008", "crossEntropy labels of the wrong length", entry("x: Tensor<[2, 3]>, l: Tensor<[3]>", ["  return crossEntropy(x, l);"]), 3, 10,
    ["[2, 3]", "[2]", "[3]"]),
  c("ADG1008", "sum of a number", entry("x: number", ["  return sum(x);"]), 3, 10, ["tensor"]),
  c("ADG1008", "a declared return shape that differs", entry("x: Tensor<[3]>", ["  return relu(x);"], ": Tensor<[4]>"), 2, 36,
    ["f64[3]", "f64[4]"]),
  c("ADG1008", "a helper argument of the wrong shape",
    src("function g(v: Tensor<[4]>): number {", "  return sum(v);", "}", "export function f(x: Tensor<[3]>): number {", "  return g(x);", "}"),
    6, 12, ["'v'", "'g'", "f64[3]", "f64[4]"]),
  c("ADG1008", "a helper's declared return shape that differs",
    src("function g(a: Tensor<[3]>): Tensor<[4]> {", "  return a;", "}", "export function f(x: Tensor<[3]>): number {", "  return sum(g(x));", "}"),
    2, 29, ["'g'", "f64[3]", "f64[4]"]),
  c("ADG1008", "a variable whose shape differs after an if",
    entry("x: Tensor<[3]>, c: number", ["  let y = x;", "  if (c > 0) {", "    y = zeros([4]);", "  }", "  return sum(y);"]), 4, 3,
    ["'y'", "f64[4]", "f64[3]"]),
  c("ADG1008", "?: with two shapes", entry("x: Tensor<[3]>, c: number", ["  const y = c > 0 ? x : zeros([4]);", "  return sum(y);"]), 3, 13,
    ["f64[3]", "f64[4]"]),
  c("ADG1008", "a loop-carried variable that changes shape",
    entry("x: Tensor<[3]>", ["  let y = x;", "  for (let i = 0; i < 2; i++) {", "    y = zeros([4]);", "  }", "  return sum(y);"]), 4, 3,
    ["'y'", "f64[3]", "f64[4]"]),
  c("ADG1008", "storing a row of the wrong length",
    entry("x: Tensor<[4]>", ["  const y = zeros([2, 3]);", "  y[0] = x;", "  return sum(y);"]), 4, 3, ["f64[4]", "f64[3]"]),

  // ------------------------------------------------------------------ ADG1009 index out of range
  c("ADG1009", "a constant index past the end", entry("x: Tensor<[3]>", ["  return x[3];"]), 3, 12,
    ["Index 3", "dimension 0", "size 3", "[3]"], ["0 to 2"]),
  c("ADG1009", "a constant index past the end of dimension 1", entry("x: Tensor<[2, 3]>", ["  return x[1][5];"]), 3, 15,
    ["Index 5", "dimension 1", "[2, 3]"]),
  c("ADG1009", "a negative index", entry("x: Tensor<[3]>", ["  return x[-1];"]), 3, 12, ["Index -1"]),
  c("ADG1009", "a fractional index", entry("x: Tensor<[3]>", ["  return x[0.5];"]), 3, 12, ["0.5"]),
  c("ADG1009", "a store past the end", entry("x: Tensor<[3]>", ["  const y = zeros([3]);", "  y[3] = x[0];", "  return sum(y);"]), 4, 5,
    ["Index 3"]),
  c("ADG1009", "too many indices", entry("x: Tensor<[3]>", ["  const y = x as unknown as number[][];", "  return y[0][1];"]), 4, 10,
    ["Too many indices", "[3]"]),
  c("ADG1009", "a flatten startDim past the rank", entry("x: Tensor<[2, 3]>", ["  return sum(flatten(x, 2));"]), 3, 25,
    ["startDim", "[2, 3]"], ["0 to 1"]),
  c("ADG1009", "a negative flatten startDim past the rank", entry("x: Tensor<[2, 3]>", ["  return sum(flatten(x, -3));"]), 3, 25,
    ["startDim"]),

  // ------------------------------------------------------------------ ADG1010 parameter types
  c("ADG1010", "an any-typed parameter", entry("x: any", ["  return x * 2;"]), 2, 22, ["'x'", "'any'"], ["Tensor<["]),
  c("ADG1010", "a string parameter", entry("x: string", ["  return 1;"]), 2, 22, ["'x'", "'string'"]),
  c("ADG1010", "a number[] parameter", entry("x: number[]", ["  return x[0];"]), 2, 22, ["'number[]'"]),
  c("ADG1010", "an interface-typed parameter",
    src("interface P { a: number }", "export function f(x: P): number {", "  return x.a;", "}"), 3, 22, ["'P'"]),
  c("ADG1010", "a zero tensor dimension", entry("x: Tensor<[0]>", ["  return 1;"]), 2, 30, ["positive integer"]),
  c("ADG1010", "a Tensor without a dimension tuple", entry("x: Tensor<number[]>", ["  return 1;"]), 2, 22, ["tuple"]),
  c("ADG1010", "a destructured parameter", entry("{ a }: { a: number }", ["  return a;"]), 2, 19, ["Destructured"]),
  c("ADG1010", "a rest parameter", entry("...xs: number[]", ["  return 1;"]), 2, 19, ["Rest"]),
  c("ADG1010", "an optional parameter", entry("x?: number", ["  return 1;"]), 2, 19, ["optional"]),
  c("ADG1010", "a parameter with a default", entry("x = 1", ["  return x;"]), 2, 19, ["optional"]),
  c("ADG1010", "a helper parameter without a type",
    src("function g(a: number, b = 2): number {", "  return a * b;", "}", "export function f(x: number): number {", "  return g(x, 3);", "}"),
    2, 23, ["'b'", "'g'", "no type annotation"]),

  // ------------------------------------------------------------------ ADG1011 return type
  c("ADG1011", "an entry point returning a boolean", entry("x: number", ["  return x > 0;"], ""), 2, 17, ["'f'", "boolean"]),
  c("ADG1011", "a bare return", entry("x: number", ["  if (x > 0) {", "    return;", "  }", "  return x;"], ""), 4, 5,
    ["number or a tensor"]),
  c("ADG1011", "branches returning a tensor and a number",
    entry("x: Tensor<[3]>, c: number", ["  if (c > 0) {", "    return x;", "  }", "  return c;"], ""), 3, 3, ["f64[3]", "f64"]),

  // ------------------------------------------------------------------ ADG1012 missing return
  c("ADG1012", "an entry point without a return", entry("x: number", ["  const y = x;"], ""), 2, 17, ["'f'", "every path"]),
  c("ADG1012", "an if that returns on one path only", entry("x: number", ["  if (x > 0) {", "    return x;", "  }"], ""), 3, 3, ["every path"]),
  c("ADG1012", "a helper without a return",
    src("function g(a: number) {", "  const b = a * 2;", "}", "export function f(x: number) {", "  return g(x);", "}"), 2, 10, ["'g'"]),
  c("ADG1012", "a helper that returns on one path only",
    src("function g(a: number) {", "  if (a > 0) {", "    return a;", "  }", "}", "export function f(x: number) {", "  return g(x);", "}"), 3, 3,
    ["every path"]),

  // ------------------------------------------------------------------ ADG1013 imports, module level
  c("ADG1013", "a namespace import of adgen",
    ['import * as ad from "adgen";', "export function f(x: number): number {", "  return ad.relu(x);", "}", ""].join("\n"), 1, 1,
    ["named imports"], ["import { type Tensor"]),
  c("ADG1013", "a class at module level", src("class A { v = 1; }", "export function f(x: number): number {", "  return x;", "}"), 2, 1,
    ["class declaration"]),
  c("ADG1013", "a module-level let", src("let N = 3;", "export function f(x: number): number {", "  return x * N;", "}"), 2, 1, ["const"]),
  c("ADG1013", "a module-level if", src("if (Math.PI > 3) {}", "export function f(x: number): number {", "  return x;", "}"), 2, 1,
    ["if statement"]),
  c("ADG1013", "an enum", src("enum E { A }", "export function f(x: number): number {", "  return x;", "}"), 2, 1, ["enum declaration"]),
  c("ADG1013", "a re-export", src("export { relu };", "export function f(x: number): number {", "  return x;", "}"), 2, 1,
    ["export declaration"]),
  c("ADG1013", "a declared constant without a value",
    src("declare const N: number;", "export function f(x: number): number {", "  return x * N;", "}"), 2, 15, ["needs a name and a value"]),

  // ------------------------------------------------------------------ ADG1014 non-determinism
  c("ADG1014", "Math.random", entry("x: number", ["  return x * Math.random();"]), 3, 14, ["Math.random()"], ["parameters"]),
  c("ADG1014", "Date.now", entry("x: number", ["  return x + Date.now();"]), 3, 14, ["Date.now()"]),
  c("ADG1014", "Math.random in a helper",
    src("function noise(): number {", "  return Math.random();", "}", "export function f(x: number): number {", "  return x + noise();", "}"),
    3, 10, ["Math.random()"]),
  c("ADG1014", "Math.random in a loop", entry("x: number", LOOP("let i = 0; i < 3; i++", "    s += Math.random();")), 5, 10, ["Math.random()"]),
  c("ADG1014", "Math.random as a statement", entry("x: number", ["  Math.random();", "  return x;"]), 3, 3, ["Math.random()"]),

  // ------------------------------------------------------------------ ADG1015 array methods
  c("ADG1015", "push", entry("x: number", ["  const y = zeros([3]);", "  y.push(x);", "  return sum(y);"]), 4, 5, ["'push'"], ["for loops"]),
  c("ADG1015", "map", entry("x: Tensor<[3]>", ["  const y = x.map((v) => v * 2);", "  return sum(y);"]), 3, 15, ["'map'"]),
  c("ADG1015", "reduce", entry("x: Tensor<[3]>", ["  return x.reduce((a, v) => a + v, 0);"]), 3, 12, ["'reduce'"]),
  c("ADG1015", "slice", entry("x: Tensor<[3]>", ["  const y = x.slice(0);", "  return sum(y);"]), 3, 15, ["'slice'"]),
  c("ADG1015", "fill", entry("x: number", ["  const y = zeros([3]);", "  y.fill(1);", "  return sum(y) * x;"]), 4, 5, ["'fill'"]),
  c("ADG1015", "a number method", entry("x: number", ["  return x.toFixed(2) as unknown as number;"]), 3, 12, ["'toFixed'"]),
  c("ADG1015", "a tensor property other than length", entry("x: Tensor<[3]>", ["  const c = x.constructor;", "  return sum(x);"]), 3, 15,
    ["'constructor'"], [".length"]),

  // ------------------------------------------------------------------ ADG1016 writes
  c("ADG1016", "writing into a parameter tensor", entry("x: Tensor<[3]>", ["  x[0] = 1;", "  return sum(x);"]), 3, 3,
    ["'x'", "parameter"], ["zeros"]),
  c("ADG1016", "+= into a parameter tensor", entry("x: Tensor<[3]>", ["  x[1] += 1;", "  return sum(x);"]), 3, 3, ["'x'", "parameter"]),
  c("ADG1016", "writing into a helper's parameter",
    src("function g(v: Tensor<[3]>): number {", "  v[0] = 2;", "  return sum(v);", "}", "export function f(x: Tensor<[3]>): number {",
      "  return g(x);", "}"), 3, 3, ["'v'", "parameter"]),
  c("ADG1016", "aliasing two local tensors, then writing",
    entry("x: Tensor<[3]>", ["  const a = zeros([3]);", "  const b = a;", "  b[0] = x[0];", "  return sum(a);"]), 5, 3,
    ["'b'", "'a'", "same array"], ["fresh tensor"]),
  c("ADG1016", "aliasing a parameter, then writing", entry("x: Tensor<[3]>", ["  const a = x;", "  a[0] = 1;", "  return sum(a);"]), 4, 3,
    ["'a'", "parameter"]),
  c("ADG1016", "writing into a row taken from another tensor",
    entry("x: Tensor<[2, 3]>", ["  const y = zeros([2, 3]);", "  const r = y[0];", "  r[1] = x[0][0];", "  return sum(y);"]), 5, 3,
    ["'r'", "part of another tensor"]),
  c("ADG1016", "writing into a tensor a row of which is held elsewhere",
    entry("x: Tensor<[3]>", ["  const y = zeros([2, 3]);", "  const z = y[0];", "  y[0][0] = 1;", "  return sum(z) + x[0];"]), 5, 3,
    ["'y'", "'z'", "same array"]),
  c("ADG1016", "aliasing in a loop, then writing",
    entry("x: Tensor<[3]>", ["  let a = zeros([3]);", "  let b = zeros([3]);", "  for (let i = 0; i < 3; i++) {", "    b = a;", "    a[i] = x[i];",
      "  }", "  return sum(a) + sum(b);"]), 7, 5, ["'a'", "'b'", "same array"]),
  c("ADG1016", "writing into a parameter returned by a helper",
    src("function id(t: Tensor<[3]>): Tensor<[3]> {", "  return t;", "}", "export function f(x: Tensor<[3]>): number {",
      "  const b = id(x);", "  b[0] = 1;", "  return sum(b);", "}"), 7, 3, ["'b'"]),

  // ------------------------------------------------------------------ ADG1017 use before assignment
  c("ADG1017", "+= in a loop on a variable with no value",
    entry("x: number", ["  let y!: number;", "  for (let i = 0; i < 3; i++) {", "    y += x;", "  }", "  return y;"]), 4, 3, ["'y'", "no value"],
    ["Initialise 'y'"]),
  c("ADG1017", "a variable assigned on one path, then read",
    entry("x: number", ["  let y!: number;", "  if (x > 0) {", "    y = x;", "  }", "  return y;"]), 7, 10, ["'y'", "used before it is assigned"]),
  c("ADG1017", "a variable assigned on one path in a loop",
    entry("x: number", ["  let y!: number;", "  for (let i = 0; i < 2; i++) {", "    if (x > 0) {", "      y = x;", "    }", "  }", "  return y;"]), 4, 3,
    ["'y'"]),
  c("ADG1017", "a loop-local variable assigned on one path",
    entry("x: number", ["  let s = 0;", "  for (let i = 0; i < 3; i++) {", "    let t!: number;", "    if (x > i) {", "      t = x;", "    }",
      "    s += t;", "  }", "  return s;"]), 9, 10, ["'t'"]),

  // ------------------------------------------------------------------ ADG1018 loop forms
  c("ADG1002", "a var counter", entry("x: number", LOOP("var i = 0; i < 3; i++", "    s += 1;")), 4, 8, ["`var`"], ["let"]),
  c("ADG1018", "a header part with no effect", entry("x: number", LOOP("let i = 0; i < 3; i + 1", "    s += 1;")), 4, 26, ["no effect"], ["i++"]),

  // ------------------------------------------------------------------ ADG1026 loops that never end
  c("ADG1026", "a loop without an increment", entry("x: number", LOOP("let i = 0; i < 3; ", "    s += 1;")), 4, 19, ["never ends"], ["break"]),
  c("ADG1026", "a const counter", entry("x: number", LOOP("const i = 0; i < 3; ", "    s += 1;")), 4, 21, ["never ends"]),
  c("ADG1026", "a zero step", entry("x: number", LOOP("let i = 0; i < 3; i += 0", "    s += 1;")), 4, 26, ["step is 0"], ["i++"]),
  c("ADG1026", "no condition and no break", entry("x: number", LOOP("let i = 0; ; i++", "    s += 1;")), 4, 3, ["no condition"], ["break"]),
  c("ADG1026", "a while condition on a value the loop does not change",
    entry("x: number", ["  let s = 0;", "  while (x > 0) {", "    s += 1;", "  }", "  return s;"]), 4, 10, ["never ends"]),

  // ------------------------------------------------------------------ ADG1027 custom derivative rules
  c("ADG1027", "@vjp naming a function that is not declared",
    src("/** @vjp spVjp */", "function sp(x: number): number {", "  return Math.log1p(Math.exp(x));", "}",
      "export function f(x: number): number {", "  return sp(x);", "}"), 2, 5, ["'spVjp'", "not a function declared"], ["function spVjp(x: number, y: number, dy: number): number"]),
  c("ADG1027", "a @vjp rule with too few parameters",
    src("/** @vjp spVjp */", "function sp(x: number): number {", "  return Math.log1p(Math.exp(x));", "}",
      "function spVjp(x: number, dy: number): number {", "  return dy;", "}",
      "export function f(x: number): number {", "  return sp(x);", "}"), 6, 10, ["takes 2 parameters; it needs 3"], ["y: number"]),
  c("ADG1027", "a @jvp rule returning a tensor for a number",
    src("/** @jvp spJvp */", "function sp(x: number): number {", "  return Math.log1p(Math.exp(x));", "}",
      "function spJvp(x: number, y: number, dx: number): Tensor<[2]> {", "  return zeros([2]);", "}",
      "export function f(x: number): number {", "  return sp(x);", "}"), 6, 51, ["returns f64[2]", "tangent of the output"], ["Declare it as"]),
  c("ADG1027", "@vjp on an entry point",
    src("/** @vjp fVjp */", "export function f(x: number): number {", "  return x * x;", "}",
      "function fVjp(x: number, y: number, dy: number): number {", "  return 2 * x * dy;", "}"), 2, 5, ["entry point 'f'"], ["helper"]),

  // ------------------------------------------------------------------ ADG1019 @wrt
  c("ADG1019", "@wrt naming a missing parameter",
    src("/** @wrt w, q */", "export function f(x: number, w: number): number {", "  return x * w;", "}"), 2, 5, ["'q'", "'f'"], ["x, w"]),
  c("ADG1019", "an empty @wrt", src("/** @wrt */", "export function f(x: number, w: number): number {", "  return x * w;", "}"), 2, 5,
    ["no parameters"]),
  c("ADG1019", "@wrt with a misspelt name among good ones",
    src("/** @wrt w, b, bias */", "export function f(x: number, w: number, b: number): number {", "  return x * w + b;", "}"), 2, 5,
    ["'bias'"], ["x, w, b"]),

  // ------------------------------------------------------------------ ADG1021 no entry point
  c("ADG1021", "only a helper, not exported", src("function f(x: number): number {", "  return x;", "}"), 0, 0, ["exports no function"],
    ["export function"]),
  c("ADG1021", "an empty file", "", 0, 0, ["exports no function"]),
  c("ADG1021", "only an exported constant", "export const N = 3;\n", 0, 0, ["exports no function"]),
  c("ADG1021", "only an exported type", src("export type V = Tensor<[3]>;"), 0, 0, ["exports no function"]),
  c("ADG1021", "an exported constant and a helper",
    src("export const K = 2;", "function g(a: number): number {", "  return a * K;", "}"), 0, 0, ["exports no function"]),

  // ------------------------------------------------------------------ ADG1022 function forms
  c("ADG1022", "a declared function without a body",
    src("declare function g(x: number): number;", "export function f(x: number): number {", "  return g(x);", "}"), 2, 1,
    ["'g'", "without a body"]),
  c("ADG1022", "an unknown function declared at the end",
    src("export function f(x: number): number {", "  return foo(x);", "}", "declare function foo(x: number): number;"), 5, 1,
    ["'foo'", "without a body"]),
  c("ADG1022", "an overload signature",
    src("function g(x: number): number;", "function g(x: number): number {", "  return x;", "}", "export function f(x: number): number {",
      "  return g(x);", "}"), 2, 1, ["'g'", "without a body"]),
  c("ADG1022", "an async entry point", src("export async function f(x: number): Promise<number> {", "  return x;", "}"), 2, 1,
    ["'f'", "async"], ["synchronous"]),
  c("ADG1022", "an async entry point with await",
    src("export async function f(x: number): Promise<number> {", "  const y = await x;", "  return y;", "}"), 2, 1, ["async"]),
  c("ADG1022", "an async helper",
    src("async function g(a: number): Promise<number> {", "  return a;", "}", "export function f(x: number): number {", "  return x;", "}"),
    2, 1, ["'g'", "async"]),
  c("ADG1022", "a generator", src("export function* f(x: number) {", "  yield x;", "}"), 2, 1, ["generator"]),
  c("ADG1022", "a generic function", src("export function f<T>(x: number): number {", "  return x;", "}"), 2, 19, ["'T'", "not a size"], ["extends number"]),
  c("ADG1022", "a default export", src("export default function f(x: number): number {", "  return x;", "}"), 2, 1, ["Default exports"]),
  c("ADG1022", "an anonymous default export", src("export default function (x: number): number {", "  return x;", "}"), 2, 1,
    ["needs a name"]),
  c("ADG1022", "an arrow function (closure)", entry("x: number", ["  const g = (y: number) => y * 2;", "  return g(x);"]), 3, 13,
    ["closures"], ["top level"]),
  c("ADG1022", "a function expression", entry("x: number", ["  const g = function (y: number) { return y; };", "  return g(x);"]), 3, 13,
    ["closures"]),
  c("ADG1022", "a closure over the loop counter",
    entry("x: number", ["  let s = 0;", "  for (let i = 0; i < 3; i++) {", "    const g = () => x * i;", "    s += g();", "  }", "  return s;"]),
    5, 15, ["closures"]),
  c("ADG1022", "a builtin used as a value", entry("x: number", ["  const g = relu;", "  return g(x);"]), 3, 13, ["'relu'", "not values"]),
  c("ADG1022", "a helper used as a value",
    src("function h(y: number): number {", "  return y;", "}", "export function f(x: number): number {", "  const g = h;", "  return g(x);", "}"),
    6, 13, ["'h'"]),

  // ------------------------------------------------------------------ ADG1023 module-level constants
  c("ADG1023", "a module-level constant from a string", src('const S = "abc".length;', "export function f(x: number): number {", "  return x * S;", "}"),
    2, 11, ["module-level constant"]),
  c("ADG1023", "a ragged module-level array", src("const W = [[1, 2], [3]];", "export function f(x: number): number {", "  return x * W[0][0];", "}"), 2, 20,
    ["rectangular", "1 elements"], ["same length"]),
  c("ADG1023", "a module-level options object",
    src("const O = { stride: 2 };", "export function f(x: Tensor<[1, 4, 4]>, w: Tensor<[1, 1, 2, 2]>): number {",
      "  return sum(conv2d(x, w, undefined, O));", "}"), 2, 11, ["module-level constant"]),

  // ------------------------------------------------------------------ ADG1024 unknown variables
  c("ADG1024", "globalThis", entry("x: number", ["  return x * globalThis.Infinity;"]), 3, 14, ["'globalThis'"]),
  c("ADG1024", "Math as a value", entry("x: number", ["  const m = Math;", "  return x;"]), 3, 13, ["'Math'"]),
  c("ADG1024", "assigning to NaN", entry("x: number", ["  NaN = x;", "  return x;"]), 3, 3, ["'NaN'"]),

  // ------------------------------------------------------------------ ADG1025 arguments
  c("ADG1025", "zeros with a zero dimension", entry("x: number", ["  return sum(zeros([0]));"]), 3, 21, ["positive", "0"]),
  c("ADG1025", "conv2d options that are not an object literal",
    entry("x: Tensor<[1, 4, 4]>, w: Tensor<[1, 1, 2, 2]>", ["  return sum(conv2d(x, w, undefined, undefined));"]), 3, 38, ["object literal"]),
  c("ADG1025", "pooling options held in a variable",
    entry("x: Tensor<[1, 4, 4]>", ["  const o = 2;", "  return sum(maxpool2d(x, o as any));"]), 4, 27, ["object literal"], ["size"]),
  c("ADG1025", "a pair option of three numbers", entry("x: Tensor<[4, 4]>", ["  return sum(maxpool2d(x, { size: [2, 2, 2] as any }));"]), 3, 35,
    ["two numbers"]),
  c("ADG1025", "maxpool2d without a size", entry("x: Tensor<[1, 4, 4]>", ["  return sum(maxpool2d(x, { stride: 2 } as any));"]), 3, 27,
    ["maxpool2d", "size"]),
  c("ADG1025", "an unknown conv2d option",
    entry("x: Tensor<[1, 4, 4]>, w: Tensor<[1, 1, 2, 2]>", ["  return sum(conv2d(x, w, { dilation: 2 } as any));"]), 3, 29,
    ["'dilation'"], ["stride, padding"]),
  c("ADG1025", "flatten of a number", entry("x: number", ["  return sum(flatten(x as any));"]), 3, 22, ["flatten", "tensor"]),
  c("ADG1025", "Math.exp of a tensor", entry("x: Tensor<[3]>", ["  return Math.exp(x as any);"]), 3, 19, ["Math.exp", "numbers"]),
  c("ADG1025", "a helper's optional argument left out",
    src("function g(a: number, b?: number): number {", "  return a;", "}", "export function f(x: number): number {", "  return g(x);", "}"),
    6, 10, ["'b'"]),
  // ------------------------------------------------------------------ found in review, fixed
  c("ADG1020", "entries whose generated names collide", src("export function f(x: number): number { return x; }", "export function fGrad(x: number): number { return x; }"), 3, 1,
    ["'fGrad'", "'f'"], ["Rename"]),
  c("ADG1020", "entries f and F both export FGrads", src("export function f(x: number): number { return x; }", "export function F(x: number): number { return x; }"), 3, 1,
    ["'FGrads'"]),
  c("ADG1020", "an entry named like a global the generated code uses", src("export function Float64Array(x: Tensor<[3]>): number { return sum(x); }"), 2, 1,
    ["Float64Array"]),
  c("ADG1013", "a node import, before TypeScript's error", 'import fs from "node:fs";\nexport function f(x: number): number { return x; }\n', 1, 16,
    ["'node:fs'"]),
  c("ADG1011", "a declared string return type", entry("x: number", ['  return "a";'], ": string"), 2, 31, ["string"]),
  c("ADG1011", "a declared void return type", entry("x: number", ["  return;"], ": void"), 2, 31, ["void"]),
  c("ADG1009", "a loop bound that runs past the end", entry("x: Tensor<[2, 3]>", ["  let s = 0;", "  for (let i = 0; i < 4; i++) {", "    s += x[0][i];", "  }", "  return s;"]), 5, 15,
    ["from 0 to 3", "size 3"], ["guard"]),
  c("ADG1009", "an offset from a loop counter past the end", entry("x: Tensor<[5]>", ["  let s = 0;", "  for (let i = 0; i < 5; i++) {", "    s += x[i + 1];", "  }", "  return s;"]), 5, 12,
    ["from 1 to 5", "size 5"]),
  c("ADG1009", "a guard that does not cover the range", entry("x: Tensor<[5]>", ["  let s = 0;", "  for (let i = 0; i < 5; i++) {", "    if (i > 0) {", "      s += x[i - 2];", "    }", "  }", "  return s;"]), 6, 14,
    ["from -1 to 2"]),
  c("ADG1016", "aliasing through an if", entry("x: Tensor<[3]>", ["  const a = zeros([3]);", "  let b = zeros([3]);", "  if (x[0] > 0) {", "    b = a;", "  }", "  b[0] = x[1];", "  return sum(a) + sum(b);"]), 8, 3,
    ["'b' and 'a' may refer to the same array"]),
  c("ADG1016", "aliasing through ?:", entry("x: Tensor<[3]>", ["  const a = zeros([3]);", "  const b = x[0] > 0 ? a : zeros([3]);", "  b[0] = x[1];", "  return sum(a);"]), 5, 3,
    ["'b' and 'a' may refer to the same array"]),
  c("ADG1016", "a parameter reached through ?:", entry("x: Tensor<[3]>", ["  const b = x[0] > 0 ? x : zeros([3]);", "  b[0] = 10;", "  return sum(x);"]), 4, 3,
    ["may be a parameter's array"]),
  c("ADG1016", "a loop variable that becomes another variable's array", entry("x: Tensor<[3]>", ["  const a = zeros([3]);", "  let b = zeros([3]);", "  for (let i = 0; i < 3; i++) {", "    b[i] = x[i];", "    b = a;", "  }", "  return sum(a) + sum(b);"]), 5, 3,
    ["'b' becomes another variable's array"]),
];

// ------------------------------------------------------------------------------- the table

const results = new Map<string, Awaited<ReturnType<typeof compile>>>();
async function compiled(k: Case) {
  let r = results.get(k.name);
  if (!r) {
    r = await compile(k.source, { fileName: "model.ts" });
    results.set(k.name, r);
  }
  return r;
}

describe("diagnostics table", () => {
  it("has unique case names", () => {
    expect(new Set(CASES.map((k) => k.name)).size).toBe(CASES.length);
  });

  for (const k of CASES) {
    it(`${k.code}: ${k.name}`, async () => {
      const r = await compiled(k);
      expect(r.code).toBeUndefined();
      expect(r.diagnostics.length).toBeGreaterThanOrEqual(1);
      const d = r.diagnostics[0]!;
      const where = `${d.code} ${d.line}:${d.col} ${d.message}`;
      expect(d.code, where).toBe(k.code);
      expect([d.line, d.col], where).toEqual([k.line, k.col]);
      expect(d.file).toBe("model.ts");
      expect(d.length).toBeGreaterThanOrEqual(1);
      for (const m of k.message) expect(d.message, where).toContain(m);
      expect(d.hint.trim().length, where).toBeGreaterThan(10);
      for (const h of k.hint ?? []) expect(d.hint, where).toContain(h);
      // the front end stops at its first error; TypeScript may report several
      if (k.code !== "ADG1001") expect(r.diagnostics).toHaveLength(1);
      else expect(r.diagnostics.every((x) => x.code === "ADG1001")).toBe(true);
    });
  }

  it("no input in the table produces an internal error (ADG9001)", async () => {
    const internal: string[] = [];
    for (const k of CASES) {
      const r = await compiled(k);
      for (const d of r.diagnostics) if (d.code === "ADG9001") internal.push(`${k.name}: ${d.message}`);
    }
    expect(internal).toEqual([]);
  });

  it("covers every code of the catalog but ADG9001", () => {
    const covered = new Set(CASES.map((k) => k.code));
    const missing = Object.keys(DIAGNOSTICS).filter((code) => !covered.has(code as DiagnosticCode));
    expect(missing.sort()).toEqual(["ADG9001"]);
  });

  it("the source positions are inside the file and underline the construct", async () => {
    for (const k of CASES) {
      if (k.line === 0) continue;
      const r = await compiled(k);
      const d = r.diagnostics[0]!;
      const text = k.source.split(/\r?\n/)[d.line - 1];
      expect(text, k.name).toBeDefined();
      expect(d.col - 1, k.name).toBeLessThanOrEqual(text!.length);
    }
  });
});

// ------------------------------------------------------------------------------- the docs

describe("docs/diagnostics.md", () => {
  it.each(Object.entries(DIAGNOSTICS))("has a section for %s (%s)", (code, title) => {
    const doc = readFileSync(new URL("../docs/diagnostics.md", import.meta.url), "utf8");
    const heading = doc.split("\n").find((l) => l.startsWith(`## ${code}`));
    expect(heading, `a '## ${code}' heading`).toBeDefined();
    expect(heading!.toLowerCase()).toContain(title.toLowerCase());
  });
});

// ------------------------------------------------------------------------------- the command line

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/compiler/cli.js");

describe("the adgen command on bad input", () => {
  let dir: string;

  beforeAll(() => {
    if (!existsSync(CLI)) {
      const b = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8", shell: process.platform === "win32" });
      if (b.status !== 0) throw new Error(`npm run build failed:\n${b.stdout}\n${b.stderr}`);
    }
    dir = mkdtempSync(join(tmpdir(), "adgen-diagnostics-"));
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const adgen = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

  const CONV_BAD = entry("x: Tensor<[3, 8, 8]>, w: Tensor<[4, 2, 3, 3]>", ["  const y = conv2d(x, w);", "  return sum(y);"]);
  const CONV_GOOD = entry("x: Tensor<[3, 8, 8]>, w: Tensor<[4, 3, 3, 3]>", ["  const y = conv2d(x, w);", "  return sum(y);"]);

  it("prints file:line:col - error ADGnnnn:, a code frame and a hint, exits 1 and writes nothing", () => {
    writeFileSync(join(dir, "conv.ts"), CONV_BAD);
    const r = adgen("conv.ts");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n");
    expect(lines[0]).toMatch(/^conv\.ts:3:13 - error ADG1008: \S/);
    for (const part of ["3 channels", "[3, 8, 8]", "[4, 2, 3, 3]"]) expect(lines[0]).toContain(part);
    // the code frame: the source line with its number, then ~ under conv2d(x, w)
    expect(r.stderr).toContain("\n3   const y = conv2d(x, w);\n");
    expect(r.stderr).toContain(`\n  ${" ".repeat(12)}${"~".repeat(12)}\n`);
    expect(r.stderr).toMatch(/^ {2}hint: conv2d takes x \[C, H, W\]/m);
    expect(r.stderr).toContain("Found 1 error in conv.ts.");
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(r.stderr).not.toContain("\x1b[");
    expect(existsSync(join(dir, "conv.grad.ts"))).toBe(false);
  });

  const SAMPLES: readonly [string, DiagnosticCode][] = [
    ["a string assigned to a number", "ADG1001"],
    ["switch", "ADG1002"],
    ["a string literal", "ADG1003"],
    ["a flatten startDim that is a parameter", "ADG1006"],
    ["a while condition on a value the loop does not change", "ADG1026"],
    ["add of two shapes", "ADG1008"],
    ["a constant index past the end", "ADG1009"],
    ["an any-typed parameter", "ADG1010"],
    ["Math.random", "ADG1014"],
    ["push", "ADG1015"],
    ["aliasing two local tensors, then writing", "ADG1016"],
    ["a variable assigned on one path, then read", "ADG1017"],
    ["@wrt naming a missing parameter", "ADG1019"],
    ["an async entry point", "ADG1022"],
    ["a namespace import of adgen", "ADG1013"],
  ];

  it.each(SAMPLES)("reports %s as %s in TypeScript's style, without a stack trace", (name, code) => {
    const k = CASES.find((x) => x.name === name)!;
    expect(k, name).toBeDefined();
    const file = `case_${CASES.indexOf(k)}.ts`;
    writeFileSync(join(dir, file), k.source);
    const r = adgen(file);
    expect(r.status).toBe(1);
    const first = r.stderr.split("\n")[0]!;
    expect(first).toMatch(new RegExp(`^${file.replace(".", "\\.")}:${k.line}:${k.col} - error ${code}: \\S`));
    const lineText = k.source.split("\n")[k.line - 1]!;
    expect(r.stderr).toContain(`\n${k.line} ${lineText}\n`);
    expect(r.stderr).toMatch(/\n {2,}~+\n/);
    expect(r.stderr).toMatch(/^ {2}hint: \S/m);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(r.stderr).not.toMatch(/Error: |\.ts:\d+:\d+\)$/m);
    expect(existsSync(join(dir, file.replace(/\.ts$/, ".grad.ts")))).toBe(false);
  });

  it("reports a file-level error (no entry point) without a position", () => {
    writeFileSync(join(dir, "empty.ts"), "export const N = 3;\n");
    const r = adgen("empty.ts");
    expect(r.status).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("empty.ts - error ADG1021: The file exports no function.");
    expect(r.stderr).toMatch(/^ {2}hint: \S/m);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(existsSync(join(dir, "empty.grad.ts"))).toBe(false);
  });

  it("leaves the previous output byte-identical when a later compile fails", () => {
    const model = join(dir, "model.ts");
    const out = join(dir, "model.grad.ts");
    writeFileSync(model, CONV_GOOD);
    const ok = adgen("model.ts");
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const before = readFileSync(out);
    expect(before.length).toBeGreaterThan(0);

    for (const broken of [CONV_BAD, entry("x: number", ["  return x * Math.random();"]), entry("x: number", ["  return x * ;"])]) {
      writeFileSync(model, broken);
      const bad = adgen("model.ts");
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^model\.ts:\d+:\d+ - error ADG\d{4}: /);
      expect(bad.stderr).not.toMatch(/^ {4}at /m);
      expect(readFileSync(out).equals(before)).toBe(true);
    }
    // no temporary file left behind either
    expect(readdirSync(dir).filter((f) => f.startsWith("model.grad.ts."))).toEqual([]);
  });

  it("leaves an -o output untouched too", () => {
    const model = join(dir, "layer.ts");
    const out = join(dir, "custom-out.ts");
    writeFileSync(model, CONV_GOOD);
    expect(adgen("-o", "custom-out.ts", "layer.ts").status).toBe(0);
    const before = readFileSync(out);
    writeFileSync(model, entry("x: Tensor<[3]>", ["  x[0] = 1;", "  return sum(x);"]));
    const bad = adgen("-o", "custom-out.ts", "layer.ts");
    expect(bad.status).toBe(1);
    expect(bad.stderr.split("\n")[0]).toMatch(/^layer\.ts:3:3 - error ADG1016: /);
    expect(readFileSync(out).equals(before)).toBe(true);
  });
});
