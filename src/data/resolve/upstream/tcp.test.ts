import { createServer } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { RandomBytes } from './query.js';
import { UpstreamServer } from './servers.js';
import { MAX_PENDING, TcpConnections, type TcpWaiter } from './tcp.js';

let close: () => void = () => undefined;
afterEach(() => close());

const waiter = (): TcpWaiter => ({ sent: Buffer.alloc(30), settle: () => undefined });

it('gives up on an ID after a few tries instead of looping: a random source stuck on one value fills one slot only', async () => {
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const stuck = { u16: () => 7 } as unknown as RandomBytes;
  const tcp = new TcpConnections(stuck, () => undefined);
  close = () => (tcp.close(), server.close());
  const upstream = new UpstreamServer({ host: '127.0.0.1', port, family: 4 }, 0);
  expect(tcp.send(upstream, waiter(), false)).not.toBeNull();
  expect(tcp.send(upstream, waiter(), false)).toBeNull(); // ID 7 is taken on the only connection with room
  expect(tcp.openConnections).toBe(1);
});

it('pipelines up to MAX_PENDING queries a connection before opening another', async () => {
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  let n = 0;
  const counting = { u16: () => n++ & 0xffff } as unknown as RandomBytes;
  const tcp = new TcpConnections(counting, () => undefined);
  close = () => (tcp.close(), server.close());
  const upstream = new UpstreamServer({ host: '127.0.0.1', port, family: 4 }, 0);
  for (let i = 0; i < MAX_PENDING; i++) tcp.send(upstream, waiter(), false);
  expect(tcp.openConnections).toBe(1);
  tcp.send(upstream, waiter(), false);
  expect(tcp.openConnections).toBe(2);
});
