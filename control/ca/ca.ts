/**
 * The mesh CA: a self-signed ECDSA P-256 root for one trust domain, and short-lived X.509-SVIDs
 * (SPIFFE ID as the only URI SAN, ECDSA P-256, client and server auth) signed by it, with
 * @peculiar/x509 over Node's WebCrypto. Keys are written with mode 0600 under a 0700 directory.
 */
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { fail, ok, type Problem, problem, problemText, type Result, reasonOf } from '../../contracts/problem.js';
import { parseSpiffeId } from '../../contracts/spiffe.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CaFiles {
  dir: string;
  certPem: string;
  keyPem: string;
  trustDomain: string;
}

export interface Svid {
  identity: string;
  certPem: string;
  keyPem: string;
  /** The chain a peer needs to verify it: the SVID then the CA. */
  chainPem: string;
  notAfter: Date;
}

export function caDir(stateDir: string): string {
  return join(stateDir, 'ca');
}

function pem(label: string, der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, label);
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function serial(): string {
  // A positive 128-bit serial (RFC 5280 asks for unpredictable serials up to 20 octets).
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] as number) & 0x7f;
  return Buffer.from(b).toString('hex');
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
}

/** Why a CA cannot be created under `<state>/ca/` for `trustDomain`, or undefined when it can. */
export function initCaProblem(stateDir: string, trustDomain: string, force = false): Problem | undefined {
  const parsed = parseSpiffeId(`spiffe://${trustDomain}`);
  if (!parsed.ok) return problem('', `"${trustDomain}" is not a valid trust domain: ${reasonOf(parsed)}`);
  const dir = caDir(stateDir);
  if (existsSync(join(dir, 'ca.key.pem')) && !force)
    return problem('', `a CA already exists in ${dir} (use --force to replace it, which invalidates every SVID)`);
  return undefined;
}

/**
 * Creates the CA under `<state>/ca/`; refuses to replace an existing one unless `force`.
 * Callers with input from a person ask initCaProblem first: a refusal here is a bug.
 */
export async function initCa(
  stateDir: string,
  trustDomain: string,
  opts: { validityDays?: number; force?: boolean; now?: Date } = {},
): Promise<CaFiles> {
  const refused = initCaProblem(stateDir, trustDomain, opts.force);
  if (refused) throw new Error(problemText(refused));
  const dir = caDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = await generateCa(trustDomain, opts);
  writeFileSync(join(dir, 'ca.crt.pem'), certPem, { mode: 0o644 });
  writeSecret(join(dir, 'ca.key.pem'), keyPem);
  writeFileSync(join(dir, 'trust-domain'), `${trustDomain}\n`, { mode: 0o644 });
  return { dir, certPem, keyPem, trustDomain };
}

/** A new CA for `trustDomain`, in memory (a shared store seals its key before keeping it). */
export async function generateCa(
  trustDomain: string,
  opts: { validityDays?: number; now?: Date } = {},
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await keyPair();
  const now = opts.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=Perimeter, CN=Perimeter mesh CA ${trustDomain}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.validityDays ?? 365) * 86_400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem, keyPem };
}

/** The CA under `<state>/ca/`, or the problem: there is none there. */
export function findCa(stateDir: string): Result<CaFiles> {
  const dir = caDir(stateDir);
  const missing = ['ca.crt.pem', 'ca.key.pem', 'trust-domain'].find((n) => !existsSync(join(dir, n)));
  if (missing) return fail('', `no CA in ${dir}: run perimeter ca init --state ${stateDir} --trust-domain <td>`);
  const file = (n: string) => readFileSync(join(dir, n), 'utf8');
  return ok({ dir, certPem: file('ca.crt.pem'), keyPem: file('ca.key.pem'), trustDomain: file('trust-domain').trim() });
}

/** The CA of a state directory known to have one (findCa when that is not known). */
export function loadCa(stateDir: string): CaFiles {
  const r = findCa(stateDir);
  if (!r.ok) throw new Error(reasonOf(r));
  return r.value;
}

/** Why `ca` cannot issue an SVID for `identity` lasting `ttlMs`, or undefined when it can. */
export function svidProblem(ca: CaFiles, identity: string, ttlMs = DEFAULT_SVID_TTL_MS, now = new Date()): Problem | undefined {
  return svidProblemWith(new x509.X509Certificate(ca.certPem), ca, identity, ttlMs, now);
}

function svidProblemWith(caCert: x509.X509Certificate, ca: CaFiles, identity: string, ttlMs: number, now: Date): Problem | undefined {
  const parsed = parseSpiffeId(identity);
  if (!parsed.ok) return problem('', `malformed SPIFFE ID "${identity}": ${reasonOf(parsed)}`);
  if (parsed.value.trustDomain !== ca.trustDomain) return problem('', `${identity} is not in the CA's trust domain ${ca.trustDomain}`);
  if (parsed.value.segments.length === 0) return problem('', 'an SVID names a workload: the SPIFFE ID needs a path');
  if (new Date(now.getTime() + ttlMs) > caCert.notAfter) return problem('', 'the SVID would outlive its CA; renew the CA first');
  return undefined;
}

const DEFAULT_SVID_TTL_MS = 24 * 3_600_000;

/**
 * Issues an X.509-SVID for `identity`, which must be in the CA's trust domain. Callers with input
 * from a person ask svidProblem first: a refusal here is a bug.
 */
export async function issueSvid(
  ca: CaFiles,
  identity: string,
  opts: { ttlMs?: number; dnsNames?: string[]; now?: Date } = {},
): Promise<Svid> {
  const now = opts.now ?? new Date();
  const ttlMs = opts.ttlMs ?? DEFAULT_SVID_TTL_MS;
  const caCert = new x509.X509Certificate(ca.certPem);
  const refused = svidProblemWith(caCert, ca, identity, ttlMs, now);
  if (refused) throw new Error(problemText(refused));
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), ALG, false, ['sign']);
  const keys = await keyPair();
  const notAfter = new Date(now.getTime() + ttlMs);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'O=Perimeter',
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey as CryptoKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(
        [{ type: 'url', value: identity }, ...(opts.dnsNames ?? []).map((d) => ({ type: 'dns' as const, value: d }))],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return {
    identity,
    certPem,
    keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    chainPem: `${certPem}\n${ca.certPem}`,
    notAfter,
  };
}

/** Writes an SVID as <name>.crt.pem (with the chain) and <name>.key.pem (0600). */
export function writeSvid(dir: string, name: string, svid: Svid): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cert = join(dir, `${name}.crt.pem`);
  const key = join(dir, `${name}.key.pem`);
  writeFileSync(cert, svid.chainPem, { mode: 0o644 });
  writeSecret(key, svid.keyPem);
  return { cert, key };
}
