// TLS to an encrypted upstream (DoT and DoH): verified against the system
// CAs plus upstream.tls.ca, for the name after '#' (or the IP address), and
// against the SPKI pins when set. A failure is an error on that connection:
// the server counts as failed for the query, which goes to the next server;
// nothing is ever sent to it in clear. Sessions are resumed (the last ticket
// the server gave is offered on the next connection).

import { X509Certificate } from 'node:crypto';
import { type PeerCertificate, type TLSSocket, checkServerIdentity, connect, rootCertificates } from 'node:tls';
import { type UpstreamAddress, type UpstreamTls, spkiPin } from '../../../shared/serving-config.js';

/** What a connection to one encrypted server needs; one per server, kept across connections for resumption. */
export class TlsDialer {
  private session: Buffer | undefined;
  private readonly ca: string[] | undefined;
  /** Full handshakes and resumed ones, for tests and operators. */
  handshakes = 0;
  resumed = 0;

  constructor(
    private readonly address: UpstreamAddress,
    private readonly tls: UpstreamTls,
    private readonly label: string,
    /** A connection failed (verification, refused, reset): the reason, worded for an admin. */
    private readonly onError: (message: string) => void,
  ) {
    this.ca = tls.ca === null ? undefined : [...rootCertificates, tls.ca];
  }

  connect(alpn: string[]): TLSSocket {
    const { address } = this;
    const name = address.encrypted?.name;
    const socket = connect({
      host: address.host,
      port: address.port,
      servername: name, // SNI carries names only, never an IP address (RFC 6066 §3)
      ca: this.ca,
      ALPNProtocols: alpn,
      session: this.session,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => this.check(name ?? address.host, cert),
    });
    socket.setNoDelay(true);
    socket.on('session', (s: Buffer) => (this.session = s));
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) this.resumed++;
      else this.handshakes++;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.onError(this.explain(err)));
    return socket;
  }

  private check(expected: string, cert: PeerCertificate): Error | undefined {
    const mismatch = checkServerIdentity(expected, cert);
    if (mismatch) return mismatch;
    if (this.tls.pins.length > 0 && !chainPins(cert).some((p) => this.tls.pins.includes(p))) {
      return new Error(`no public key in the certificate chain matches upstream.tls.pins (the server's key: ${chainPins(cert)[0] ?? 'none'})`);
    }
    return undefined;
  }

  private explain(err: NodeJS.ErrnoException): string {
    const name = this.address.encrypted?.name;
    const code = err.code ? ` (${err.code})` : '';
    const hint =
      err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN' || err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
        ? `; trust its CA with upstream.tls.ca`
        : err.code === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? `; the certificate must carry ${name ? `the name ${name}` : `the IP address ${this.address.host} (or write #NAME after the address)`}`
          : '';
    return `upstream ${this.label}: ${err.message}${code}${hint}`;
  }
}

/** The SPKI pins of a certificate and the issuers the server sent with it. */
function chainPins(cert: PeerCertificate): string[] {
  const pins: string[] = [];
  let c: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = cert;
  for (let depth = 0; c && depth < 10; depth++) {
    // `pubkey` is the bare key for EC certificates: the pin is over the whole SubjectPublicKeyInfo.
    if (c.raw) pins.push(spkiPin(new X509Certificate(c.raw).publicKey.export({ type: 'spki', format: 'der' })));
    const next: PeerCertificate | undefined = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    if (next === c) break;
    c = next;
  }
  return pins;
}
