// The layering of src/, checked from the imports themselves (type-only
// imports count: a type names what a module depends on as much as a value).
//
//   node scripts/check-layers.mjs              lists every violation and cycle; exit 1 if any
//   node scripts/check-layers.mjs --root DIR   the same for another checkout (DIR/src)
//
// Run by test/layering.test.ts under `npm test`. The rules and the few
// allowed exceptions live here, in one place, each with its reason.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * What each folder of src/ may import besides itself. A folder not named
 * here may not be imported at all; `*` is the edge of the program (the CLI),
 * which assembles everything.
 */
export const MAY_IMPORT = {
  text: [], // presentation of outside strings
  thread: [], // job threads
  net: [], // addresses and prefixes
  wire: ['net', 'text'], // DNS messages
  match: ['net', 'text', 'thread', 'wire'], // the list compiler and matcher
  shared: ['match', 'net', 'text', 'thread', 'wire'], // what both planes use
  data: ['match', 'net', 'shared', 'text', 'thread', 'wire'], // answering queries
  control: ['match', 'net', 'shared', 'text', 'thread', 'wire'], // everything but answering
  commands: ['*'],
  '.': ['*'], // src/cli.ts, src/program.ts
};

/**
 * Imports across the planes that are allowed: the assembly, where the control
 * plane starts the data plane and gives it what it owns. Each entry is one
 * importing file and the folder (or file) it may reach, with the reason. An
 * entry nothing uses any more is reported too, so the list stays true.
 */
export const EXCEPTIONS = [
  {
    from: 'src/control/daemon/planes.ts',
    to: 'src/data/',
    why: 'the assembly: starts the data plane on the main thread (workers: 1) or in worker threads, makes the answer cache and client counts they share, and hands them the filter',
  },
  {
    from: 'src/control/workers.ts',
    to: 'src/data/',
    why: 'the assembly: the handle on one worker thread running a data plane (its entry file and its event ring)',
  },
];

/** Test files beside the sources may use the test helpers (test/support). */
const TEST_FILE = /\.test\.ts$/;

/** Every .ts file under dir, as paths relative to root with forward slashes. */
function sources(root, dir) {
  const out = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = `${dir}/${name}`;
    const st = statSync(join(root, rel));
    if (st.isDirectory()) out.push(...sources(root, rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The module specifiers a file names: imports, re-exports, import() and import('x').T, type-only included. */
export function specifiersOf(fileName, text) {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) found.push(e.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** A relative specifier as the repository path of the file it names, or null for a package or a missing file. */
function resolveSpecifier(root, from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = resolve(root, dirname(from), spec);
  const stem = base.replace(/\.(m|c)?js$/, '');
  for (const candidate of [`${stem}.ts`, `${stem}.mts`, base, `${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return relative(root, candidate).split(sep).join('/');
    } catch {
      // not this one
    }
  }
  return null;
}

/** The folder of src/ a path belongs to ('.' for src/cli.ts), or null outside src/. */
export function layerOf(path) {
  const m = /^src\/(?:([^/]+)\/)?[^/]+$|^src\/([^/]+)\//.exec(path);
  if (!m) return null;
  return m[2] ?? m[1] ?? '.';
}

/** The strongly connected components of more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return out;
}

/** One path around a cycle, for the message: from its first file back to it. */
function loopThrough(graph, component) {
  const inside = new Set(component);
  const start = component[0];
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== null && at !== start; at = previous.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

/**
 * Checks src/ under root. Returns the violations (one line each), the cycles
 * (each a path that comes back to its start), the exceptions nothing uses any
 * more, and the import graph.
 */
export function checkLayers(root) {
  const files = sources(root, 'src');
  const graph = new Map();
  const violations = [];
  const used = new Set();
  for (const from of files) {
    const edges = new Set();
    graph.set(from, edges);
    const fromLayer = layerOf(from);
    for (const spec of specifiersOf(from, readFileSync(join(root, from), 'utf8'))) {
      if (!spec.startsWith('.')) continue; // packages and node: builtins
      const to = resolveSpecifier(root, from, spec);
      if (to === null) {
        violations.push(`${from} imports '${spec}', which names no file`);
        continue;
      }
      if (to.startsWith('test/') && TEST_FILE.test(from)) continue;
      if (!to.startsWith('src/')) {
        violations.push(`${from} -> ${to}: src/ imports nothing outside src/ (only its tests may use test/)`);
        continue;
      }
      edges.add(to);
      const toLayer = layerOf(to);
      if (toLayer === fromLayer) continue;
      const may = MAY_IMPORT[fromLayer];
      if (may === undefined) {
        violations.push(`${from} -> ${to}: src/${fromLayer}/ has no rule in MAY_IMPORT (scripts/check-layers.mjs)`);
        continue;
      }
      if (may.includes('*') || may.includes(toLayer)) continue;
      const exception = EXCEPTIONS.findIndex((e) => e.from === from && (to === e.to || (e.to.endsWith('/') && to.startsWith(e.to))));
      if (exception >= 0) {
        used.add(exception);
        continue;
      }
      const allowed = may.length > 0 ? may.map((l) => `src/${l}/`).join(', ') : 'nothing outside itself';
      violations.push(`${from} -> ${to}: src/${fromLayer === '.' ? '' : `${fromLayer}/`} may not import src/${toLayer}/ (it may import ${allowed})`);
    }
  }
  const loops = cycles(graph).map((c) => loopThrough(graph, c));
  const stale = EXCEPTIONS.filter((_, i) => !used.has(i)).map((e) => `${e.from} -> ${e.to}`);
  return { violations, cycles: loops, stale, graph };
}

/** The report a person reads: empty when the layering holds. */
export function formatReport({ violations, cycles: loops, stale }) {
  const lines = [];
  for (const v of violations) lines.push(`layering: ${v}`);
  for (const c of loops) lines.push(`cycle: ${c.join(' -> ')}`);
  for (const s of stale) lines.push(`unused exception (remove it from EXCEPTIONS): ${s}`);
  return lines;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--root');
  const root = at > 0 ? resolve(process.argv[at + 1]) : fileURLToPath(new URL('..', import.meta.url));
  const result = checkLayers(root);
  const lines = formatReport(result);
  if (lines.length === 0) {
    console.log(`layering holds: ${result.graph.size} files under src/, no cycles`);
  } else {
    console.log(lines.join('\n'));
    console.log(`${result.violations.length} violations, ${result.cycles.length} cycles, ${result.stale.length} unused exceptions`);
    process.exitCode = 1;
  }
}
