import { describe, expect, it } from 'vitest';
import { queryLogSection } from './querylog.js';

describe('queryLog.sink and retention', () => {
  it('defaults to the file (no sink key), and the sink\'s 90 days of retention (no retention key)', () => {
    expect(queryLogSection(undefined, '/etc/aifence')).not.toHaveProperty('sink');
    expect(queryLogSection({ sink: 'file' }, '/etc/aifence')).toMatchObject({ sink: { kind: 'file' } });
  });
  it('takes a PostgreSQL URL', () => {
    expect(queryLogSection({ mode: 'blocked', sink: 'postgres://aifence@10.0.0.3/aifence', retention: '30d' }, '/')).toMatchObject({ sink: { kind: 'postgres', url: 'postgres://aifence@10.0.0.3/aifence' }, retention: 30 * 86400 });
  });
  it('names the key, the value and the fix', () => {
    expect(() => queryLogSection({ sink: 'mysql://x' }, '/')).toThrow(/queryLog\.sink: "mysql:\/\/x" is not file or a PostgreSQL URL; write e\.g\. postgres:\/\//);
    expect(() => queryLogSection({ retention: '5m' }, '/')).toThrow(/queryLog\.retention/);
  });
});
