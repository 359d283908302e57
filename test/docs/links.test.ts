// Every relative link in the project's markdown leads somewhere an admin with
// only the repository can follow: a file or folder that exists, a heading
// that exists (GitHub's anchors), never `../shared` or outside the checkout.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, checkFile, projectMarkdown, slug } from '../support/markdown-links.js';

const root = process.cwd();

describe('links in README.md, docs/, bench/, deploy/ and src/ READMEs', () => {
  const files = projectMarkdown(root);

  it('covers the guides', () => {
    for (const f of ['README.md', 'bench/README.md', 'deploy/dhcp.md', 'docs/catalogue.md', 'src/data/README.md', 'src/control/README.md']) expect(files).toContain(f);
  });

  it.each(files)('%s: every relative link and anchor resolves inside the repository', (file) => {
    const problems = checkFile(root, file).map((p) => `${p.file}:${p.line}: (${p.target}) ${p.problem}`);
    expect(problems).toEqual([]);
  });
});

describe('the link checker', () => {
  const repo = mkdtempSync(join(tmpdir(), 'aifence-links-'));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  };
  write('docs/guide.md', '# The guide\n\n## Port 53 and systemd-resolved\n\n## `bench:serve`: what a query costs\n\n## Notes\n\n## Notes\n');
  write('bench/data.txt', 'x\n');

  const problems = (text: string) => {
    write('README.md', text);
    return checkFile(repo, 'README.md').map((p) => p.problem);
  };

  it('accepts files, folders, headings and URLs', () => {
    expect(
      problems(
        [
          '[g](docs/guide.md) [d](docs/) [b](bench/data.txt) [h](docs/guide.md#port-53-and-systemd-resolved)',
          '[c](docs/guide.md#benchserve-what-a-query-costs) [n](docs/guide.md#notes-1) [self](#top)',
          '[u](https://example.org/x#y) [m](mailto:a@example.org)',
          '# Top',
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('reports a missing file, a missing heading and a link into ../shared or out of the repository', () => {
    expect(problems('[a](docs/gone.md)')).toEqual(['no such file: docs/gone.md']);
    expect(problems('[a](docs/guide.md#no-such-heading)')).toEqual(['no heading for #no-such-heading in docs/guide.md']);
    expect(problems('[a](#nowhere)\n# Here')).toEqual(['no heading for #nowhere in README.md']);
    expect(problems('[a](../shared/docs/DESIGN.md)')).toEqual(['points at ../shared, which users of the repository do not have']);
    expect(problems('[a](../../etc/passwd)')).toEqual(['points outside the repository']);
    expect(problems('[a](docs/guide.md#notes-2)')).toEqual(['no heading for #notes-2 in docs/guide.md']);
  });

  it('ignores links inside code', () => {
    expect(problems('`[a](gone.md)`\n\n```\n[b](gone.md)\n```\n')).toEqual([]);
  });

  it('makes anchors as GitHub does', () => {
    expect(slug('Encrypted DNS: DoT and DoH')).toBe('encrypted-dns-dot-and-doh');
    expect(slug('Conditional forwarding: Active Directory, reverse zones, split horizon')).toBe('conditional-forwarding-active-directory-reverse-zones-split-horizon');
    expect(slug('`bench/miss.ts`: what a cache miss costs')).toBe('benchmissts-what-a-cache-miss-costs');
    expect(slug('Fleet: two resolvers, Redis, PostgreSQL, Grafana')).toBe('fleet-two-resolvers-redis-postgresql-grafana');
    expect([...anchors('# A\n```\n# not a heading\n```\n## A\n')]).toEqual(['a', 'a-1']);
  });
});
