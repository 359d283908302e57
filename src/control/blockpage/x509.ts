// X.509 certificates for the block page (RFC 5280): a leaf for one name,
// signed by the organisation's CA (or by its own key when there is no CA),
// with the extensions browsers require of a server certificate: the name in
// subjectAltName, serverAuth, no CA bit, key identifiers. The TBSCertificate
// is written with der.ts and signed with node's crypto.sign.

import { type KeyObject, X509Certificate, createHash, createPublicKey, randomBytes, sign } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { addressBytes } from '../../net/address.js';
import {
  type Element,
  bitString,
  children,
  explicit,
  implicit,
  nullValue,
  objectId,
  octetString,
  readElement,
  readObjectId,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

/** Who signs: the CA's subject as it is written in its certificate, its key, and how it signs. */
export interface Signer {
  /** The issuer Name, DER, byte for byte the CA's subject (chain building compares bytes). */
  name: Buffer;
  key: KeyObject;
  /** The CA's subject key identifier, carried as the leaf's authority key identifier. */
  keyId: Buffer;
  hash: 'sha256' | 'sha384' | 'sha512';
  /** The AlgorithmIdentifier of the signature, DER. */
  algorithm: Buffer;
}

export interface LeafRequest {
  /** DNS names and IP addresses the certificate is for; the first is also the subject CN when short enough. */
  dns: readonly string[];
  ip: readonly string[];
  /** The leaf's public key. */
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11',
};

const CRITICAL = Buffer.from([0x01, 0x01, 0xff]); // BOOLEAN TRUE
/** keyUsage digitalSignature, as a BIT STRING. */
const KEY_USAGE = Buffer.from([0x03, 0x02, 0x07, 0x80]);

function extension(oid: string, value: Buffer, critical = false): Buffer {
  return critical ? sequence(objectId(oid), CRITICAL, octetString(value)) : sequence(objectId(oid), octetString(value));
}

/** A Name of one CN (and O) attribute; CN is at most 64 characters (RFC 5280 upper bound). */
function nameOf(commonName: string | null, organisation?: string): Buffer {
  const rdns: Buffer[] = [];
  if (organisation) rdns.push(set(sequence(objectId(OID.organizationName), utf8String(organisation.slice(0, 64)))));
  if (commonName !== null) rdns.push(set(sequence(objectId(OID.commonName), utf8String(commonName))));
  return sequence(...rdns);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const top = readElement(spki, 0);
  const bits = children(spki, top)[1];
  return createHash('sha1').update(spki.subarray(bits.contents + 1, bits.end)).digest();
}

/** How a key signs certificates; throws for keys browsers do not accept in a certificate chain. */
export function signingAlgorithm(key: KeyObject): Pick<Signer, 'hash' | 'algorithm'> {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { hash: 'sha256', algorithm: sequence(objectId(OID.ecdsaSha256)) };
    if (curve === 'secp384r1') return { hash: 'sha384', algorithm: sequence(objectId(OID.ecdsaSha384)) };
    if (curve === 'secp521r1') return { hash: 'sha512', algorithm: sequence(objectId(OID.ecdsaSha512)) };
    throw new Error(`the CA key is on curve ${curve}, which browsers do not accept; use P-256 or P-384 (openssl ecparam -name prime256v1)`);
  }
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algorithm: sequence(objectId(OID.rsaSha256), nullValue()) };
  throw new Error(`the CA key is ${key.asymmetricKeyType}, which browsers do not accept in certificates; use an EC P-256/P-384 or an RSA key`);
}

/** The signer for a CA certificate and its key; throws naming what is wrong (not a CA, key does not match). */
export function caSigner(certPem: string, key: KeyObject): Signer {
  const ca = new X509Certificate(certPem);
  if (!ca.ca) throw new Error('is not a CA certificate (basicConstraints CA:TRUE is missing)');
  if (!ca.checkPrivateKey(key)) throw new Error('does not belong to the key given in ca.key');
  return { name: subjectOf(ca.raw), key, keyId: subjectKeyIdOf(ca.raw) ?? keyIdentifier(ca.publicKey), ...signingAlgorithm(key) };
}

/** The subject Name of a certificate, as its bytes. */
function subjectOf(der: Buffer): Buffer {
  const tbs = tbsFields(der);
  return der.subarray(tbs[5].start, tbs[5].end);
}

/** The certificate's subjectKeyIdentifier extension, if it has one. */
function subjectKeyIdOf(der: Buffer): Buffer | undefined {
  const tbs = tbsFields(der);
  const wrapper = tbs.find((e) => e.tag === 0xa3);
  if (!wrapper) return undefined;
  const list = children(der, wrapper)[0];
  for (const ext of children(der, list)) {
    const [oid, ...rest] = children(der, ext);
    if (readObjectId(der, oid) !== OID.subjectKeyIdentifier) continue;
    const value = rest[rest.length - 1]; // OCTET STRING holding an OCTET STRING
    const inner = readElement(der, value.contents, value.end);
    return Buffer.from(der.subarray(inner.contents, inner.end));
  }
  return undefined;
}

/** The TBSCertificate's fields, version first ([0] version, serial, signature, issuer, validity, subject, spki, ...). */
function tbsFields(der: Buffer): Element[] {
  const cert = readElement(der, 0);
  const tbs = children(der, cert)[0];
  const fields = children(der, tbs);
  if (fields[0]?.tag !== 0xa0) throw new Error('is not an X.509 v3 certificate');
  return fields;
}

/** A certificate for `request`, signed by `signer`, as DER. */
export function issue(signer: Signer, request: LeafRequest, options: { selfSigned?: boolean } = {}): Buffer {
  const first = request.dns[0] ?? request.ip[0] ?? null;
  const cn = first !== null && first.length <= 64 ? first : null;
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x3f) | 0x40; // positive, and never shorter than 16 bytes
  const altNames = [
    ...request.dns.map((n) => implicit(2, Buffer.from(n, 'ascii'))),
    ...request.ip.map((a) => implicit(7, isIPv4(a) ? Buffer.from(addressBytes(a)!.subarray(12)) : Buffer.from(addressBytes(a)!))),
  ];
  // Self-signed, the subject is the issuer: a certificate is self-issued when the two are the same bytes.
  const subject = options.selfSigned ? signer.name : nameOf(cn);
  const extensions = [
    extension(OID.basicConstraints, sequence(), true), // not a CA, whatever else it is
    extension(OID.keyUsage, KEY_USAGE, true),
    extension(OID.extKeyUsage, sequence(objectId(OID.serverAuth))),
    // With no CN the names are only here, and the extension must be critical (RFC 5280 §4.2.1.6).
    extension(OID.subjectAltName, sequence(...altNames), cn === null),
    extension(OID.subjectKeyIdentifier, octetString(keyIdentifier(request.publicKey))),
    extension(OID.authorityKeyIdentifier, sequence(implicit(0, signer.keyId))),
  ];
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    signer.algorithm,
    signer.name,
    sequence(time(request.notBefore), time(request.notAfter)),
    subject,
    request.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  return sequence(tbs, signer.algorithm, bitString(sign(signer.hash, tbs, signer.key)));
}

/** A self-signed certificate for `key` (no CA configured): its own issuer. */
export function selfSigned(key: KeyObject, names: { dns: readonly string[]; ip: readonly string[] }, organisation: string | undefined, notBefore: Date, notAfter: Date): Buffer {
  const publicKey = createPublicKey(key);
  const signer: Signer = {
    name: nameOf('block page (aifence)', organisation),
    key,
    keyId: keyIdentifier(publicKey),
    ...signingAlgorithm(key),
  };
  return issue(signer, { ...names, publicKey, notBefore, notAfter }, { selfSigned: true });
}

export function pem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
