// Who a client is, as the query log, the sinks and the console ask it: a
// lookup from address and query time to a host name (identity.ts, or none),
// and one way to name a client wherever a single cell must: the device id
// it gave (chosen by the admin for that device), else its host name, with
// the address beside (`alice-phone (10.0.0.5)`), or the address alone.

/**
 * The client's host name at the query's time: '' when none is known; null
 * when it cannot be said yet (a lease file changed since the query and is
 * being read): ask again shortly, or take '' when waiting no longer helps.
 */
export type ClientNames = (address: string, time: number) => string | null;

/** How long a log line may wait for a lease file being read: reads take milliseconds; a file that cannot be read is given up sooner. */
export const NAME_WAIT_MS = 2000;

export const NO_NAMES: ClientNames = () => '';

export function clientLabel(address: string, name = '', device = ''): string {
  const who = device || name;
  return who ? `${who} (${address})` : address;
}
