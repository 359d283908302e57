// The layering of src/ (scripts/check-layers.mjs): the data plane imports
// nothing of the control plane nor the reverse (but for the assembly the
// script names), src/shared imports neither, and no import cycles, type-only
// imports included. Run as a process, as a developer runs it.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../scripts/check-layers.mjs', import.meta.url));

function check(...args: string[]): { status: number | null; lines: string[] } {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: run.status, lines: `${run.stdout}${run.stderr}`.trim().split('\n') };
}

describe('layering', () => {
  it('holds for src/', () => {
    const { status, lines } = check();
    expect(lines).toEqual([expect.stringMatching(/^layering holds: \d+ files under src\/, no cycles$/)]);
    expect(status).toBe(0);
  });

  describe('finds what breaks it', () => {
    const root = mkdtempSync(join(tmpdir(), 'aifence-layers-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    // A data-plane file naming a control-plane type, which names it back (a type-only cycle);
    // shared reaching into the data plane through import(); a re-export from control into data.
    write('src/data/resolve/a.ts', "import type { B } from '../../control/config/b.js';\nexport type A = B[];\n");
    write('src/control/config/b.ts', "import type { A } from '../../data/resolve/a.js';\nexport interface B { a?: A }\n");
    write('src/shared/c.ts', "export type C = import('../data/resolve/a.js').A;\n");
    write('src/control/d.ts', "export { type A } from '../data/resolve/a.js';\n");
    // The assembly's exception, and a folder that may import everything.
    write('src/control/daemon/planes.ts', "import type { A } from '../../data/resolve/a.js';\nexport const d: A = [];\n");
    write('src/commands/e.ts', "import { d } from '../control/daemon/planes.js';\nimport type { A } from '../data/resolve/a.js';\nexport const e: A = d;\n");
    // An import of a file that is not there.
    write('src/net/f.ts', "export { g } from './missing.js';\n");

    it('reports each violation and cycle, and the exception nothing uses', () => {
      const { status, lines } = check('--root', root);
      expect(status).toBe(1);
      expect(lines).toEqual([
        "layering: src/control/config/b.ts -> src/data/resolve/a.ts: src/control/ may not import src/data/ (it may import src/match/, src/net/, src/shared/, src/text/, src/thread/, src/wire/)",
        "layering: src/control/d.ts -> src/data/resolve/a.ts: src/control/ may not import src/data/ (it may import src/match/, src/net/, src/shared/, src/text/, src/thread/, src/wire/)",
        "layering: src/data/resolve/a.ts -> src/control/config/b.ts: src/data/ may not import src/control/ (it may import src/match/, src/net/, src/shared/, src/text/, src/thread/, src/wire/)",
        "layering: src/net/f.ts imports './missing.js', which names no file",
        "layering: src/shared/c.ts -> src/data/resolve/a.ts: src/shared/ may not import src/data/ (it may import src/match/, src/net/, src/text/, src/thread/, src/wire/)",
        'cycle: src/control/config/b.ts -> src/data/resolve/a.ts -> src/control/config/b.ts',
        'unused exception (remove it from EXCEPTIONS): src/control/workers.ts -> src/data/',
        '5 violations, 1 cycles, 1 unused exceptions',
      ]);
    });
  });
});
