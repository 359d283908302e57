// Where a device names itself over encrypted DNS: the DoH path
// `/dns-query/ID` and the DoT server name (SNI) `ID.NAME`, NAME being a name
// the certificate carries (`*.NAME` covers every device). Read once per
// request (DoH) or connection (DoT); what is not a valid id names nothing.

import { deviceId } from '../../shared/device.js';

export const DOH_PATH = '/dns-query';
const DEVICE_PATH = `${DOH_PATH}/`;

/** The device a DoH request path names: '' for `/dns-query` (and `/dns-query/`), the id for `/dns-query/ID`; null for any other path. */
export function deviceOfPath(path: string): string | null {
  if (path === DOH_PATH || path === DEVICE_PATH) return '';
  if (!path.startsWith(DEVICE_PATH)) return null;
  return deviceId(path.slice(DEVICE_PATH.length));
}

/** The DoT names a certificate's DNS names stand for: `*.dns.example.org` and `dns.example.org` both give `dns.example.org`. */
export function dotNames(certificateNames: readonly string[]): string[] {
  return [...new Set(certificateNames.map((n) => (n.startsWith('*.') ? n.slice(2) : n).toLowerCase()).filter((n) => n !== ''))];
}

/** The device a DoT client's SNI names: the first label of `ID.NAME` for one of `names`; '' when it names none. */
export function deviceOfServerName(serverName: string | false | null | undefined, names: readonly string[]): string {
  if (typeof serverName !== 'string' || serverName === '') return '';
  const sni = serverName.toLowerCase();
  // The resolver's own name is no device, even when it sits under another name the certificate carries.
  if (names.includes(sni)) return '';
  for (const name of names) {
    const label = sni.length - name.length - 1;
    if (label > 0 && sni.endsWith(name) && sni.charCodeAt(label) === 0x2e) {
      const id = deviceId(sni.slice(0, label));
      if (id !== null) return id;
    }
  }
  return '';
}
