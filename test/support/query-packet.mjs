// An A query for a plain name (RD set), as bytes: for the plain-JavaScript
// probes that run as their own processes (no loader, no TypeScript).

/** The query for `name` with ID `id`. */
export function queryPacket(name, id = 0) {
  const labels = name.split('.').filter(Boolean);
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2); // RD
  q.writeUInt16BE(1, 4); // QDCOUNT
  let at = 12;
  for (const l of labels) {
    q[at++] = l.length;
    at += q.write(l, at, 'ascii');
  }
  q[at++] = 0;
  q.writeUInt16BE(1, at); // A
  q.writeUInt16BE(1, at + 2); // IN
  return q;
}
