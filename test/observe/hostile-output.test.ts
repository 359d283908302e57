// Reports and discovery over a query log holding what an attacker can put
// there (names, and a log tampered with: groups, services, clients): the
// built CLI's CSV is valid (read back by csv-parse), no cell starts a
// spreadsheet formula, and neither CSV nor table carries a raw control
// character or a bidi override to the admin's spreadsheet or terminal.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { csv, table, visible } from '../../src/text/visible.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [resolve('dist/cli.js'), ...args], { encoding: 'utf8' });

/** What spreadsheets and terminals act on. */
const HOSTILE = ['=1+1', "+cmd|' /C calc'!A0", '@sum(1,2)', '-2+3', '\tlead', '\rlead', '\uff1d1+1', 'a\u0000b', '\u001b[31mred\u001b[0m', 'bell\u0007', 'tab\tin', 'cr\rin', 'lf\nin', 'x\u202egnp.exe', 'del\u007f', 'c1\u0085', 'zw\u200bsp', 'ls\u2028ps\u2029'];
/** A cell a spreadsheet runs as a formula. */
const FORMULA = /^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;
/** Any control, bidi or invisible format character, except the newline that ends a record. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/;

function checkCsv(text: string, rows: number): void {
  expect(text).not.toMatch(RAW);
  const cells = parse(text, { relax_column_count: false }) as string[][];
  expect(cells).toHaveLength(rows);
  for (const row of cells) for (const cell of row) expect(cell, JSON.stringify(cell)).not.toMatch(FORMULA);
}

function checkTable(text: string): void {
  expect(text).not.toMatch(RAW);
}

describe('csv() and table()', () => {
  it('neutralise formulas and show control and bidi characters as codes', () => {
    const rows = [['name', 'n'], ...HOSTILE.map((h, i) => [h, String(i)])];
    checkCsv(csv(rows), rows.length);
    checkTable(table(rows));
    expect(visible('x\u202egnp.exe')).toBe('x\\u202Egnp.exe');
    expect(visible('\u001b[31m')).toBe('\\x1B[31m');
    expect(visible('a\\000b.chat.deepseek.com')).toBe('a\\000b.chat.deepseek.com'); // a name in presentation form passes as it is
    expect(csv([['=1+1', '-', 'plain']])).toBe("'=1+1,'-,plain\n");
  });
});

describe('report and report --discover over a hostile query log (the built CLI)', () => {
  let log: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-hostile-report-'));
    log = join(dir, 'queries.jsonl');
    const lines: string[] = [];
    HOSTILE.forEach((h, i) => {
      const time = `2026-12-01T10:00:${String(i).padStart(2, '0')}.000Z`;
      // Discovery: allowed names that look like AI (a "gpt" label), beginning with the hostile text.
      lines.push(JSON.stringify({ time, client: `10.0.0.${i}`, group: 'default', name: `${h}.gpt.example`, type: 'A', verdict: 'allowed', cached: false, rcode: 'NOERROR', latencyMs: 1 }));
      // Reports: a tampered line in every column a report shows.
      lines.push(JSON.stringify({ time, client: h, clientName: h, device: h, group: h, name: 'x.example', type: 'A', verdict: 'blocked', cached: false, service: h, list: `service:${h}`, rcode: 'NXDOMAIN', latencyMs: 1 }));
    });
    // As JSON writers that escape U+2028 and U+2029 write them (Node's readline ends a line at either).
    writeFileSync(log, lines.join('\n').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029') + '\n');
  });

  it('--discover --format csv and table', async () => {
    const { stdout: csvOut } = await cli('report', '--log', log, '--discover', '--format', 'csv');
    checkCsv(csvOut, HOSTILE.length + 1);
    checkTable((await cli('report', '--log', log, '--discover')).stdout);
  });

  it('--by service, client, device and group, csv and table', async () => {
    for (const by of ['service', 'client', 'device', 'group']) {
      const { stdout: csvOut } = await cli('report', '--log', log, '--by', by, '--format', 'csv');
      checkCsv(csvOut, HOSTILE.length + 1);
      checkTable((await cli('report', '--log', log, '--by', by)).stdout);
    }
  });
});
