// Device ids: the name a phone or laptop gives itself over encrypted DNS
// (`/dns-query/alice-phone`, SNI `alice-phone.dns.example.org`), which
// groups select with `devices:`. One rule for the listeners that read them
// and the config that lists them: 1 to 63 of a-z, 0-9 and `-`, case folded,
// so an id is a DNS label and is safe to print as it is.

const DEVICE_ID = /^[A-Za-z0-9-]{1,63}$/;

/** What a device id may be, for error messages. */
export const DEVICE_ID_RULE = '1 to 63 of a-z, 0-9 and -';

/** `text` as a device id (ASCII letters lower-cased), or null when it is not one. */
export function deviceId(text: string): string | null {
  // Tested before folding: toLowerCase() would make U+212A (Kelvin) a `k`.
  return DEVICE_ID.test(text) ? text.toLowerCase() : null;
}
