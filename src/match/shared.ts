// Typed arrays over SharedArrayBuffers: what a compiled matcher is made of,
// so that one compiled filter can be used by every thread by reference.

type TypedArrayOf<T> = { new (buffer: SharedArrayBuffer): T; readonly BYTES_PER_ELEMENT: number };

/** A zero-filled typed array of `length` elements over a new SharedArrayBuffer. */
export function sharedArray<T>(type: TypedArrayOf<T>, length: number): T {
  return new type(new SharedArrayBuffer(length * type.BYTES_PER_ELEMENT));
}
