// The computation graph of an entry as Graphviz DOT, the seed's pictures: one node per
// value (parameters as boxes), an edge from each operand to the op that reads it, the
// forward pass in blue and the backward pass (adjoints) in orange, loops and branches as
// clusters. Render with `dot -Tsvg`.

import { Block, GradFunc, Instr, Value, ValueId, isSimple, showType } from "../ir/types.js";

export function graphOf(grad: GradFunc, primalParams: number): string {
  const lines: string[] = [];
  const ids = new Map<ValueId, string>();
  let counter = 0;
  const node = (v: Value): string => {
    let id = ids.get(v.id);
    if (!id) {
      id = `v${counter++}`;
      ids.set(v.id, id);
    }
    return id;
  };
  const esc = (s: string): string => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const label = (v: Value, what: string): string => esc(`${v.name ?? ""}${v.name ? " = " : ""}${what}`);
  let cluster = 0;

  const emitBlock = (block: Block, backward: boolean, indent: string): void => {
    for (const instr of block.instrs) emitInstr(instr, backward, indent);
  };
  const color = (backward: boolean): string => (backward ? "#f4a259" : "#5b8def");
  const emitInstr = (instr: Instr, backward: boolean, indent: string): void => {
    if (isSimple(instr)) {
      if (instr.op === "const") {
        const value = (instr.attrs as { value: number }).value;
        lines.push(`${indent}${node(instr.result)} [label="${esc(String(value))}", shape=plaintext];`);
        return;
      }
      // (a call of a derivative rule is labelled with the rule's name)
      const op = instr.op === "call" ? (instr.attrs as { name: string }).name : instr.op;
      lines.push(`${indent}${node(instr.result)} [label="${label(instr.result, op)}", color="${color(backward)}", tooltip="${esc(showType(instr.result.type))}, line ${instr.loc.line}"];`);
      for (const a of instr.args) lines.push(`${indent}${node(a)} -> ${node(instr.result)};`);
      return;
    }
    const id = cluster++;
    const title = instr.op === "for" ? `for ${instr.body.params[0]!.name ?? "i"} step ${instr.step}` : instr.op;
    lines.push(`${indent}subgraph cluster_${id} {`, `${indent}  label="${esc(title)} (line ${instr.loc.line})"; style=dashed; color="${color(backward)}";`);
    if (instr.op === "for" || instr.op === "while") {
      const carried = instr.op === "for" ? instr.body.params.slice(1) : instr.body.params;
      if (instr.op === "for") {
        const iv = instr.body.params[0]!;
        lines.push(`${indent}  ${node(iv)} [label="${esc(iv.name ?? "i")}", shape=diamond];`);
        lines.push(`${indent}  ${node(instr.start)} -> ${node(iv)} [label="from"];`, `${indent}  ${node(instr.end)} -> ${node(iv)} [label="to"];`);
      }
      carried.forEach((p, k) => {
        lines.push(`${indent}  ${node(p)} [label="${label(p, "carried")}", color="${color(backward)}", style=dotted];`);
        lines.push(`${indent}  ${node(instr.init[k]!)} -> ${node(p)} [style=dotted];`);
      });
      if (instr.op === "while") {
        instr.cond.params.forEach((p, k) => lines.push(`${indent}  ${node(carried[k]!)} -> ${node(p)} [style=dotted];`));
        emitBlock(instr.cond, backward, indent + "  ");
        lines.push(`${indent}  ${node(instr.cond.yields[0]!)} [shape=hexagon];`);
      }
      emitBlock(instr.body, backward, indent + "  ");
      instr.body.yields.forEach((y, k) => lines.push(`${indent}  ${node(y)} -> ${node(carried[k]!)} [style=dashed, constraint=false];`));
    } else {
      lines.push(`${indent}  ${node(instr.cond)} [shape=hexagon];`);
      emitBlock(instr.then, backward, indent + "  ");
      emitBlock(instr.else, backward, indent + "  ");
    }
    lines.push(`${indent}}`);
    instr.results.forEach((r, k) => {
      const loop = instr.op === "for" || instr.op === "while";
      lines.push(`${indent}${node(r)} [label="${label(r, loop ? "after loop" : "if result")}", color="${color(backward)}"];`);
      if (instr.op === "if") {
        lines.push(`${indent}${node(instr.then.yields[k]!)} -> ${node(r)} [label="then"];`);
        lines.push(`${indent}${node(instr.else.yields[k]!)} -> ${node(r)} [label="else"];`);
      } else lines.push(`${indent}${node(instr.body.yields[k]!)} -> ${node(r)};`);
    });
  };

  lines.push(`digraph "${esc(grad.name)}" {`);
  lines.push(`  rankdir=LR; node [shape=ellipse, fontname="Helvetica"]; edge [color="#777777"];`);
  lines.push(`  label="${esc(grad.name)}: forward (blue) and adjoint (orange)"; labelloc=t;`);
  grad.body.params.forEach((p, k) => {
    lines.push(`  ${node(p)} [label="${esc(p.name ?? `arg${k}`)}", shape=box, style=filled, fillcolor="${k < primalParams ? "#dde8fb" : "#fde6d2"}"];`);
  });
  grad.body.instrs.forEach((instr, n) => emitInstr(instr, n >= grad.splitAt, "  "));
  const [value, ...grads] = grad.body.yields;
  lines.push(`  out_value [label="value", shape=box, style=filled, fillcolor="#dde8fb"];`, `  ${node(value!)} -> out_value;`);
  grads.forEach((g, k) => {
    const w = grad.wrt[k]!;
    lines.push(`  out_d${k} [label="${esc(`d${w}`)}", shape=box, style=filled, fillcolor="#fde6d2"];`, `  ${node(g)} -> out_d${k};`);
  });
  lines.push("}");
  return lines.join("\n") + "\n";
}
