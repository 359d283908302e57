// The name used is the lease valid at the query's time: a lease file read
// again after a change keeps what it said before for queries made before,
// ended at the file's mtime; renewals go on; old intervals are forgotten.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { Identity } from './identity.js';
import { LeaseFile } from './lease-file.js';
import type { Lease } from './leases.js';

const log = createLogger({ level: 'silent' });
const T0 = Date.UTC(2026, 11, 7, 9, 0, 0);
const MIN = 60_000;

function file(now: { t: number }): LeaseFile {
  return new LeaseFile({ path: '/nonexistent', format: 'dnsmasq' }, log, () => now.t);
}
const lease = (address: string, name: string, end: number, start = -Infinity): Lease => ({ address, name, start, end });

describe('a lease file read again', () => {
  it('answers with the lease in force at the query time, across a name change, a release and a renewal', () => {
    const now = { t: T0 };
    const f = file(now);
    f.apply([lease('10.0.0.5', 'alice-laptop', T0 + 60 * MIN), lease('10.0.0.6', 'bob-desk', T0 + 60 * MIN)], -Infinity);
    // The first read knows nothing of before it: its leases hold for any earlier time.
    expect(f.nameAt('10.0.0.5', T0 - 5 * MIN)).toBe('alice-laptop');
    // 10 minutes later the file says: 10.0.0.5 now carol's (alice released, carol leased it), bob renewed, 10.0.0.7 new.
    now.t = T0 + 10 * MIN;
    f.apply([lease('10.0.0.5', 'carol-phone', T0 + 70 * MIN), lease('10.0.0.6', 'bob-desk', T0 + 70 * MIN), lease('10.0.0.7', 'dave', T0 + 70 * MIN)], T0 + 10 * MIN);
    expect(f.nameAt('10.0.0.5', T0 + 9 * MIN)).toBe('alice-laptop'); // a query made before the change, logged after it
    expect(f.nameAt('10.0.0.5', T0 + 10 * MIN)).toBe('carol-phone');
    expect(f.nameAt('10.0.0.6', T0 + 65 * MIN)).toBe('bob-desk'); // renewed
    expect(f.nameAt('10.0.0.7', T0 + 9 * MIN)).toBeUndefined(); // not leased before the file said so
    expect(f.nameAt('10.0.0.7', T0 + 11 * MIN)).toBe('dave');
    // Then 10.0.0.7 is gone from the file (released): named up to the change, not after.
    now.t = T0 + 20 * MIN;
    f.apply([lease('10.0.0.5', 'carol-phone', T0 + 70 * MIN), lease('10.0.0.6', 'bob-desk', T0 + 70 * MIN)], T0 + 20 * MIN);
    expect(f.nameAt('10.0.0.7', T0 + 19 * MIN)).toBe('dave');
    expect(f.nameAt('10.0.0.7', T0 + 21 * MIN)).toBeUndefined();
    // A lease past its end names nobody, even before the file is read again.
    expect(f.nameAt('10.0.0.6', T0 + 71 * MIN)).toBeUndefined();
    expect(f.addressesOf('carol-phone', T0 + 30 * MIN).map((a) => a.address)).toEqual(['10.0.0.5']);
    expect(f.addressesOf('CAROL-PHONE', T0 + 30 * MIN).map((a) => a.address)).toEqual(['10.0.0.5']);
    expect(f.addressesOf('alice-laptop', T0 + 30 * MIN)).toEqual([]);
  });

  it('forgets what ended long ago (no query still waiting to be logged can fall in it)', () => {
    const now = { t: T0 };
    const f = file(now);
    f.apply([lease('10.0.0.5', 'alice-laptop', T0 + 5 * MIN)], -Infinity);
    now.t = T0 + 60 * MIN;
    f.apply([], T0 + 60 * MIN);
    expect(f.nameAt('10.0.0.5', T0 + MIN)).toBeUndefined();
  });

  it('a lease with a start of its own (Kea, ISC) starts there, not at the change', () => {
    const now = { t: T0 };
    const f = file(now);
    f.apply([], -Infinity);
    f.apply([lease('10.0.0.8', 'eve', T0 + 60 * MIN, T0 - 2 * MIN)], T0 + MIN);
    expect(f.nameAt('10.0.0.8', T0 - MIN)).toBe('eve');
  });
});

describe('reading a lease file', () => {
  it('a small file in place, a large one (over 256 KB) in the job thread, alike; a missing one names nobody and is not fatal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-leasefile-'));
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const line = (i: number) => `${expiry} 52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} host-${i} *`;
    for (const count of [10, 6000]) {
      const path = join(dir, `leases-${count}`);
      writeFileSync(path, Array.from({ length: count }, (_, i) => line(i)).join('\n') + '\n');
      const f = new LeaseFile({ path, format: 'dnsmasq' }, log);
      await f.start(false);
      expect(f.leases).toBe(count);
      expect(f.nameAt(`10.0.0.${count === 10 ? 9 : 7}`, Date.now())).toBe(count === 10 ? 'host-9' : 'host-7');
      expect(f.nameAt('10.0.23.111', Date.now())).toBe(count === 10 ? undefined : `host-${23 * 256 + 111}`);
      f.close();
    }
    const missing = new LeaseFile({ path: join(dir, 'none'), format: 'kea' }, log);
    await missing.start(false);
    expect(missing.reads).toBe(0);
    expect(missing.nameAt('10.0.0.1', Date.now())).toBeUndefined();
  });
});

describe('a watched lease file that changes', () => {
  it('is stale from the change until it is read: the name of a query asked then cannot be said (null), not the previous holder\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-leasewatch-'));
    const path = join(dir, 'dnsmasq.leases');
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    writeFileSync(path, `${expiry} 52:54:00:00:00:01 10.0.0.5 alice-laptop *\n`);
    const identity = await Identity.start({ leases: [{ path, format: 'dnsmasq' }], hosts: [], reverse: null }, log, { watch: true, reverse: false });
    try {
      const file = identity.files[0];
      expect(identity.nameAt('10.0.0.5', Date.now())).toBe('alice-laptop');
      // alice's lease passes to dave. The change is heard at once; the read follows the debounce.
      let stale = 0;
      for (let attempt = 0; attempt < 10 && stale === 0; attempt++) {
        const reads = file.reads;
        writeFileSync(path, `${expiry} 52:54:00:00:00:02 10.0.0.5 ${attempt % 2 ? 'dave-tablet' : 'dave-laptop'} *\n`);
        while (file.reads === reads && file.changedSince === 0) await new Promise((r) => setTimeout(r, 1));
        stale = file.changedSince;
        if (stale !== 0) {
          expect(identity.nameAt('10.0.0.5', stale)).toBeNull();
          expect(identity.nameAt('10.0.0.5', stale - 1)).toMatch(/^(alice-laptop|dave-(tablet|laptop))$/); // asked before the change: what was read
        }
        while (file.reads === reads) await new Promise((r) => setTimeout(r, 5));
      }
      expect(stale).not.toBe(0);
      expect(file.changedSince).toBe(0);
      expect(identity.nameAt('10.0.0.5', Date.now())).toMatch(/^dave-(tablet|laptop)$/);
    } finally {
      identity.close();
    }
  });
});

