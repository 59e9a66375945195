/** Pieces of a small mesh for tests: a control server on the shop policy, and mTLS calls into sidecars. */
import { request as httpRequest } from 'node:http';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { request } from 'node:https';
import { CONTROL_IDENTITY_PATH } from '../../contracts/control-identity.js';
import { BUILT_MODULE } from '../../contracts/module.js';
import { type CaFiles, issueSvid, type Svid } from '../../control/ca/ca.js';
import { ControlServer } from '../../control/serve/control-server.js';
import type { ControlServerOptions } from '../../control/serve/server-options.js';
import { Sidecar, type SidecarOptions } from '../../envoy/sidecar/sidecar.js';

export const silentLog = { info() {}, warn() {}, error() {} };

/** A control server with mTLS on a free loopback port, no admin and no watching unless asked. */
export function testControl(state: string, o: Partial<ControlServerOptions> = {}): Promise<ControlServer> {
  return ControlServer.start({
    policy: ['examples/shop/policy'],
    state,
    listen: '127.0.0.1:0',
    admin: false,
    insecure: false,
    watch: false,
    moduleFile: BUILT_MODULE,
    log: silentLog,
    ...o,
  });
}

/** A local sidecar for `identity`, fed by `control`, in front of an app on `upstreamPort`. */
export async function testSidecar(
  ca: CaFiles,
  control: ControlServer,
  identity: string,
  upstreamPort: number,
  more: Partial<SidecarOptions> = {},
): Promise<Sidecar> {
  const svid = await issueSvid(ca, identity);
  return Sidecar.start({
    identity,
    control: `127.0.0.1:${control.xdsPort}`,
    controlIdentity: `spiffe://${ca.trustDomain}${CONTROL_IDENTITY_PATH}`,
    tls: { caPem: ca.certPem, certPem: svid.chainPem, keyPem: svid.keyPem },
    inboundPort: 0,
    upstream: { host: '127.0.0.1', port: upstreamPort },
    wasm: BUILT_MODULE,
    ...more,
  });
}

export interface Call {
  method?: string;
  path: string;
  /** A list is a header sent once per element, in order. */
  headers?: Record<string, string | string[]>;
  body?: string;
}

/**
 * One HTTPS request to a sidecar's inbound port, with `svid` as the client certificate (or none;
 * any chain and key will do, forged ones included).
 */
export function mtls(
  port: number,
  caPem: string,
  svid: Pick<Svid, 'chainPem' | 'keyPem'> | undefined,
  c: Call,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: c.method ?? 'GET',
        path: c.path,
        headers: c.headers ?? {},
        ca: caPem,
        ...(svid ? { cert: svid.chainPem, key: svid.keyPem } : {}),
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(c.body);
  });
}

/** One plain HTTP/1.1 request to a loopback port (a sidecar's outbound side), with this Host. */
export function plain(port: number, host: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/2 session over mTLS to a loopback port (a sidecar's inbound side), presenting `svid`: once connected. */
export async function h2Connect(port: number, caPem: string, svid: { chainPem: string; keyPem: string }): Promise<ClientHttp2Session> {
  const session = h2connect(`https://127.0.0.1:${port}`, {
    ca: caPem,
    cert: svid.chainPem,
    key: svid.keyPem,
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}
