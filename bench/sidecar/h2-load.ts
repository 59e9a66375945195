/**
 * A small HTTP/2 load generator (autocannon speaks HTTP/1.1 only): `sessions` mTLS sessions,
 * each keeping `streams` requests in flight for `seconds`; what autocannon reports, from the
 * same kind of closed loop.
 */
import { type ClientHttp2Session, connect } from 'node:http2';
import { percentile } from '../measure/percentile.js';

export interface H2LoadOptions {
  origin: string;
  path: string;
  authority: string;
  sessions: number;
  streams: number;
  seconds: number;
  tls: { ca: string; cert: string; key: string };
}

export interface H2LoadResult {
  rps: number;
  total: number;
  non2xx: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

function open(o: H2LoadOptions): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(o.origin, { ...o.tls, checkServerIdentity: () => undefined });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export async function h2load(o: H2LoadOptions): Promise<H2LoadResult> {
  const sessions = await Promise.all(Array.from({ length: o.sessions }, () => open(o)));
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + o.seconds * 1000;
  const loop = (session: ClientHttp2Session) =>
    new Promise<void>((done) => {
      const next = () => {
        if (performance.now() >= deadline) return done();
        const t0 = performance.now();
        const s = session.request({ ':method': 'GET', ':path': o.path, ':authority': o.authority });
        s.on('response', (h) => {
          const status = Number(h[':status']);
          if (status < 200 || status > 299) non2xx++;
        });
        s.on('end', () => {
          latencies.push(performance.now() - t0);
          next();
        });
        s.on('error', () => {
          errors++;
          next();
        });
        s.resume();
      };
      next();
    });
  await Promise.all(sessions.flatMap((s) => Array.from({ length: o.streams }, () => loop(s))));
  const elapsed = (performance.now() - start) / 1000;
  for (const s of sessions) s.close();
  return {
    rps: latencies.length / elapsed,
    total: latencies.length,
    non2xx,
    errors,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: percentile(latencies, 100),
  };
}
