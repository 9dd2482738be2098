/**
 * The webhook's HTTPS server: POST of an AdmissionReview on the webhook path, `GET /healthz` and `GET /readyz`
 * for probes, nothing else. Bodies are bounded, slow clients time out, and every failure becomes exactly one HTTP
 * answer here (400 malformed, 405, 404, 413, 415, 500 on a fault), logged once.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { describeError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { AdmissionResult } from './admission.js';
import type { InjectorMetrics } from './metrics.js';
import type { ServingCredentials } from './serving-cert.js';

/** Settings of the webhook server. */
export interface WebhookServerConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Path the AdmissionReview is POSTed to (INSTALL_NAMES.webhookPath). */
  readonly path: string;
  /** Largest accepted body; an object (≤ 1.5 MiB in etcd) plus its old version fits in the default. */
  readonly maxBodyBytes: number;
  /** Bound on receiving one request, headers and body. */
  readonly requestTimeoutMs: number;
}

/** Default limits. */
export const WEBHOOK_SERVER_DEFAULTS = Object.freeze({ maxBodyBytes: 6 * 1024 * 1024, requestTimeoutMs: 10_000 });

/** Live handles of the webhook server. */
export interface WebhookServerRuntime {
  readonly logger: Logger;
  readonly metrics: InjectorMetrics;
  /** Readiness as decided by the caller (credentials trusted by the webhook configuration). */
  readonly ready: () => boolean;
  /** Answers one parsed AdmissionReview body (`reviewAdmission` bound to the inject options). */
  readonly review: (body: unknown) => AdmissionResult;
}

/** A running webhook server. */
export interface RunningWebhookServer {
  readonly port: number;
  /** Serves new connections with `creds` from now on (existing connections keep theirs). */
  setCredentials(creds: ServingCredentials): void;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts the HTTPS server with `creds`. */
export async function startWebhookServer(config: WebhookServerConfig, creds: ServingCredentials, rt: WebhookServerRuntime): Promise<RunningWebhookServer> {
  const { logger, metrics } = rt;
  const send = (res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    if (res.headersSent) return;
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handleReview = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      metrics.requests.labels('malformed').inc();
      return send(res, 415, 'expected content-type application/json\n');
    }
    let body: Buffer;
    try {
      body = await readBody(req, config.maxBodyBytes);
    } catch (err) {
      metrics.requests.labels('malformed').inc();
      if (err instanceof BodyTooLarge) {
        logger.warn('admission request too large', { limitBytes: config.maxBodyBytes });
        res.setHeader('connection', 'close');
        return send(res, 413, `request body larger than ${config.maxBodyBytes} bytes\n`);
      }
      throw err;
    }
    const started = process.hrtime.bigint();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      metrics.requests.labels('malformed').inc();
      logger.warn('malformed admission request', { problems: [`body is not JSON: ${describeError(err)}`] });
      return send(res, 400, `malformed AdmissionReview: body is not JSON: ${describeError(err)}\n`);
    }
    const result = rt.review(parsed);
    if (!result.ok) {
      metrics.requests.labels('malformed').inc();
      logger.warn('malformed admission request', { problems: result.problems });
      return send(res, 400, `malformed AdmissionReview:\n${result.problems.map((p) => `  ${p}`).join('\n')}\n`);
    }
    metrics.requests.labels(result.outcome).inc();
    metrics.requestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const level = result.outcome === 'refused' || result.outcome === 'policy-refused' ? 'warn' : 'info';
    logger[level]('admission answered', {
      uid: result.review.response.uid,
      subject: result.subject,
      outcome: result.outcome,
      operations: result.ops.length,
      ...(result.review.response.status ? { reason: result.review.response.status.message } : {}),
    });
    send(res, 200, JSON.stringify(result.review), 'application/json');
  };

  const server: Server = createServer(
    {
      key: creds.keyPem,
      cert: creds.certPem,
      minVersion: 'TLSv1.2',
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.requestTimeoutMs,
      // Node checks those timeouts only this often (30 s by default), which would let a slow client hold a
      // connection for 3x the bound.
      connectionsCheckingInterval: Math.min(1_000, config.requestTimeoutMs),
    },
    (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
      if (path === '/healthz' || path === '/readyz') {
        if (req.method !== 'GET') return send(res, 405, 'method not allowed\n');
        const ok = path === '/healthz' || rt.ready();
        return send(res, ok ? 200 : 503, ok ? 'ok\n' : 'not ready: the webhook configuration does not trust this certificate yet\n');
      }
      if (path !== config.path) return send(res, 404, 'not found\n');
      if (req.method !== 'POST') return send(res, 405, 'method not allowed\n');
      handleReview(req, res).catch((err: unknown) => {
        metrics.requests.labels('error').inc();
        logger.error('admission request failed', { error: err });
        send(res, 500, `internal error while reviewing the request: ${describeError(err)}\n`);
      });
    },
  );
  // The API server keeps connections open between reviews; close idle ones well before its own idle timeout.
  server.keepAliveTimeout = 30_000;
  server.on('tlsClientError', (err) => logger.debug('TLS handshake failed', { error: err }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCredentials: (next) => server.setSecureContext({ key: next.keyPem, cert: next.certPem, minVersion: 'TLSv1.2' }),
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

// Validates credentials before a swap, so a bad reload keeps the old ones instead of breaking every handshake.
/** Throws when `creds` cannot make a TLS context. */
export function checkCredentials(creds: ServingCredentials): void {
  createSecureContext({ key: creds.keyPem, cert: creds.certPem });
}
