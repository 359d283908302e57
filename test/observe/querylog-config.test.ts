// The queryLog config section: defaults, sizes with units, and errors that
// name the key, the value and what would be right.

import { describe, expect, it } from 'vitest';
import { queryLogSection } from '../../src/control/config/querylog.js';

describe('queryLog config', () => {
  it('defaults: off, aifence-queries.jsonl beside the config, 100MB, 7 files, addresses kept', () => {
    expect(queryLogSection(undefined, '/etc/aifence')).toEqual({ mode: 'off', path: '/etc/aifence/aifence-queries.jsonl', maxSize: 100 * 1024 ** 2, keep: 7, anonymize: false });
  });

  it('takes every key, paths relative to the config directory, sizes in bytes or with a unit', () => {
    expect(queryLogSection({ mode: 'blocked', path: 'logs/q.jsonl', maxSize: '10MB', keep: 3, anonymize: true }, '/etc/aifence')).toEqual({
      mode: 'blocked',
      path: '/etc/aifence/logs/q.jsonl',
      maxSize: 10 * 1024 ** 2,
      keep: 3,
      anonymize: true,
    });
    expect(queryLogSection({ mode: 'all', path: '/var/log/q.jsonl', maxSize: '1GB' }, '/x')).toMatchObject({ path: '/var/log/q.jsonl', maxSize: 1024 ** 3 });
    expect(queryLogSection({ maxSize: 5_000_000 }, '/x').maxSize).toBe(5_000_000);
  });

  it.each([
    [{ mode: 'some' }, 'queryLog.mode: "some" is not one of off | blocked | all'],
    [{ maxSize: '10 furlongs' }, 'queryLog.maxSize: "10 furlongs" is not a size'],
    [{ maxSize: '1KB' }, 'queryLog.maxSize: "1KB" is under 64KB'],
    [{ keep: -1 }, 'queryLog.keep: -1 is not a whole number from 0 to 1000'],
    [{ anonymize: 'yes' }, 'queryLog.anonymize: "yes" is not true or false'],
    [{ path: '' }, 'queryLog.path: "" is not a non-empty string'],
    [{ rotate: 3 }, "queryLog.rotate: 3 is under an unknown key"],
    [{ maxsize: '1MB' }, "did you mean 'maxSize'?"],
  ])('rejects %j', (value, message) => {
    expect(() => queryLogSection(value, '/x')).toThrow(message);
  });
});
