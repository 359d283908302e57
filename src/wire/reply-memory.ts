// Where answers are written. Normally each is a fresh Buffer: a transport
// may hold it until sent (dgram, TCP, HTTP). While a transport that copies
// an answer before its send() returns is being answered (the batched UDP
// listener), answers up to SCRATCH_MAX bytes go into one scratch Buffer per
// length instead, reused: a blocked or cached answer then allocates nothing.

const SCRATCH_MAX = 4096;
const scratch: (Buffer | undefined)[] = [];
let reuse = false;

/** `size` bytes to write an answer into (contents undefined). */
export function replyBuffer(size: number): Buffer {
  if (!reuse || size > SCRATCH_MAX) return Buffer.allocUnsafe(size);
  return (scratch[size] ??= Buffer.allocUnsafeSlow(size));
}

/** On while answering through a transport that copies the answer at once; the resolver turns it off again before returning. */
export function reuseReplies(on: boolean): void {
  reuse = on;
}
