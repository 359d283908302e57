import { describe, expect, it } from 'vitest';
import { ClientCounts, Counted, clientCountsMemory } from './client-counts.js';

describe('ClientCounts', () => {
  it('counts an IPv6 /56 as one client, as the rate limiter does', () => {
    const c = new ClientCounts();
    const a = c.take(Counted.Connections, '2001:db8:0:100::1', 2);
    const b = c.take(Counted.Connections, '2001:db8:0:1ff:ffff:ffff:ffff:ffff', 2); // same /56, another /64
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(c.take(Counted.Connections, '2001:db8:0:17f::53', 2)).toBeNull();
    expect(c.take(Counted.Connections, '2001:db8:0:200::1', 2)).not.toBeNull(); // the next /56
    c.release(a);
    expect(c.take(Counted.Connections, '2001:db8:0:17f::53', 2)).not.toBeNull();
  });

  it('counts an IPv4 address as one client, written plain or mapped', () => {
    const c = new ClientCounts();
    expect(c.take(Counted.Connections, '192.0.2.1', 1)).not.toBeNull();
    expect(c.take(Counted.Connections, '::ffff:192.0.2.1', 1)).toBeNull();
    expect(c.take(Counted.Connections, '192.0.2.2', 1)).not.toBeNull();
    expect(c.take(Counted.Connections, 'not an address', 1)).toBeNull();
  });

  it('keeps connections and forwarded requests apart', () => {
    const c = new ClientCounts();
    expect(c.take(Counted.Connections, '192.0.2.1', 1)).not.toBeNull();
    expect(c.take(Counted.Forwarded, '192.0.2.1', 1)).not.toBeNull();
    expect(c.take(Counted.Forwarded, '192.0.2.1', 1)).toBeNull();
  });

  it("holds one cap over the workers sharing its memory, and forgets a dead worker's", () => {
    const memory = clientCountsMemory(3, 100);
    const workers = [0, 1, 2].map((w) => new ClientCounts(memory, w));
    expect(workers[0].take(Counted.Connections, '198.51.100.7', 3)).not.toBeNull();
    const held = workers[1].take(Counted.Connections, '198.51.100.7', 3);
    expect(workers[1].take(Counted.Connections, '198.51.100.7', 3)).not.toBeNull();
    expect(workers[2].take(Counted.Connections, '198.51.100.7', 3)).toBeNull();
    new ClientCounts(memory, -1).forgetWorker(1);
    expect(workers[2].take(Counted.Connections, '198.51.100.7', 3)).not.toBeNull();
    expect(workers[2].take(Counted.Connections, '198.51.100.7', 3)).not.toBeNull();
    expect(workers[0].take(Counted.Connections, '198.51.100.7', 3)).toBeNull();
    workers[1].release(held); // a late close of what was taken back changes nothing
    expect(workers[0].take(Counted.Connections, '198.51.100.7', 3)).toBeNull();
  });

  it('is exact: no client refused below its cap, however many others hold connections', () => {
    const c = new ClientCounts(undefined, 0, 1000);
    for (let i = 0; i < 1000; i++) expect(c.take(Counted.Connections, `10.0.${i >> 8}.${i & 255}`, 1), `client ${i}`).not.toBeNull();
    expect(c.clients).toBe(1000);
  });

  it('agrees with a plain count through 20,000 random takes and releases in a crowded table', () => {
    const c = new ClientCounts(clientCountsMemory(1, 40), 0);
    const model = new Map<string, number>();
    const held: { address: string; ticket: NonNullable<ReturnType<ClientCounts['take']>> }[] = [];
    let seed = 7;
    const random = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let step = 0; step < 20_000; step++) {
      if (held.length > 0 && random(2) === 0) {
        const [h] = held.splice(random(held.length), 1);
        c.release(h.ticket);
        model.set(h.address, model.get(h.address)! - 1);
        if (model.get(h.address) === 0) model.delete(h.address);
      } else {
        const address = `192.0.2.${random(100)}`;
        const count = model.get(address) ?? 0;
        const ticket = c.take(Counted.Connections, address, 3);
        // Refused only at the cap, or when the table holds as many clients as it was made for.
        const roomFor = count > 0 || model.size < 64;
        expect(ticket !== null, `step ${step}: ${address} holds ${count}`).toBe(count < 3 && roomFor);
        if (ticket !== null) {
          held.push({ address, ticket });
          model.set(address, count + 1);
        }
      }
      expect(c.clients).toBe(model.size);
    }
  });
});
