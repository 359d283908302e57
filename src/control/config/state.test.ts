import { describe, expect, it } from 'vitest';
import { stateSection } from './state.js';

describe('state section', () => {
  it('defaults to process-local state named after the host', () => {
    expect(stateSection(undefined, 'dns1')).toEqual({ redis: undefined, prefix: 'aifence', instance: 'dns1' });
  });
  it('takes a Redis URL, a prefix and an instance name', () => {
    expect(stateSection({ redis: 'redis://10.0.0.2:6379/0', prefix: 'site1', instance: 'dns-a' }, 'x')).toEqual({ redis: 'redis://10.0.0.2:6379/0', prefix: 'site1', instance: 'dns-a' });
  });
  it('names the key, the value and the fix', () => {
    expect(() => stateSection({ redis: 'http://10.0.0.2' })).toThrow(/state\.redis: "http:\/\/10\.0\.0\.2" is not a Redis URL; write e\.g\. redis:\/\//);
    expect(() => stateSection({ instance: 'a b' })).toThrow(/state\.instance: "a b" is not a usable instance name/);
    expect(() => stateSection({ redis: 'redis://x', extra: 1 })).toThrow(/state/);
  });
});
