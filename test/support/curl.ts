// curl, as the tests run it against the block page: status, headers and
// body of one request, or the status of each of many in one process.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CurlResult {
  /** curl's exit code: 0, or e.g. 60 when the certificate does not verify. */
  exit: number;
  status: number;
  /** Header names lower-cased (the last response's, after redirects are not followed). */
  headers: Record<string, string>;
  body: string;
}

/** One request: `args` are curl's (URL included). */
export async function curl(args: string[]): Promise<CurlResult> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-curl-'));
  try {
    const { exit, stdout } = await run([...args, '-s', '-S', '-D', join(dir, 'headers'), '-o', join(dir, 'body'), '-w', '%{http_code}', '--max-time', '15']);
    const read = (f: string) => {
      try {
        return readFileSync(join(dir, f), 'utf8');
      } catch {
        return '';
      }
    };
    const headers: Record<string, string> = {};
    for (const line of read('headers').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { exit, status: Number(stdout.trim()) || 0, headers, body: read('body') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same request `times` times from one curl process (one connection, reused): each status in order. */
export async function curlStatuses(args: string[], url: string, times: number): Promise<number[]> {
  const urls = Array.from({ length: times }, () => url);
  const { stdout } = await run([...args, '-s', '-o', '/dev/null', '-w', '%{http_code}\\n', '--max-time', '30', ...urls.flatMap((u, i) => (i === 0 ? [u] : ['-o', '/dev/null', u]))]);
  return stdout.trim().split('\n').map(Number);
}

function run(args: string[]): Promise<{ exit: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout) => resolve({ exit: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }));
  });
}
