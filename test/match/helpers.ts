// Helpers shared by the matcher's tests (kept out of src/ so they stay out of dist/).
import type { Entry, ListInput, ListSpec } from '../../src/match/types.js';

/** The wire form of a presentation name (no normalisation: case and bytes as given). */
export function toWire(name: string, prefix = 0): Uint8Array {
  const labels = name === '' || name === '.' ? [] : name.replace(/\.$/, '').split('.');
  const bytes = Buffer.from(labels.map((l) => String.fromCharCode(l.length) + l).join('') + '\0', 'latin1');
  const out = new Uint8Array(prefix + bytes.length);
  out.set(bytes, prefix);
  return out;
}

/** An in-memory list input. */
export function memoryList(name: string, names: readonly string[], opts: Partial<ListSpec> & { entryExact?: boolean } = {}): ListInput {
  const spec: ListSpec = { name, format: 'domains', exact: opts.exact ?? false, allow: opts.allow ?? false };
  const entries: Entry[] = names.map((n, i) => ({ name: n, line: i + 1, exact: opts.entryExact ?? false, allow: false }));
  return { spec, entries };
}
