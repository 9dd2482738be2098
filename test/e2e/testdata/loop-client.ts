/**
 * Request loop for the manifest-update scenario, started inside a pod namespace
 * (`ip netns exec NS node loop-client.js JSON`). Until stdin closes it opens a NEW connection per request to
 * host:port (the pod's egress listener), writes `<tag>-<n>`, and expects exactly `<expect><tag>-<n>` back before
 * `timeoutMs`; every other outcome is a failure. Each request is a new mTLS handshake between the sidecars, so a
 * certificate the peer does not trust shows up here. Each request prints {event:'r', n, ok}; on stdin close it
 * prints one summary line {ok, failed, failures: [{n, error}]}.
 */
import { connect } from 'node:net';

interface Options {
  readonly host: string;
  readonly port: number;
  readonly tag: string;
  readonly expect: string;
  readonly timeoutMs: number;
  /** Pause between requests (keeps the loop from starving the sidecars on a small machine). */
  readonly pauseMs: number;
}

const opt = JSON.parse(process.argv[2] ?? '{}') as Options;
let ok = 0;
const failures: { n: number; error: string }[] = [];
let stopping = false;

function once(n: number): Promise<void> {
  return new Promise((resolve) => {
    const text = `${opt.tag}-${n}`;
    const want = `${opt.expect}${text}`;
    let got = '';
    let settled = false;
    const s = connect({ host: opt.host, port: opt.port });
    const done = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      if (error === undefined) ok++;
      else failures.push({ n, error });
      process.stdout.write(JSON.stringify({ event: 'r', n, ok: error === undefined }) + '\n');
      resolve();
    };
    const timer = setTimeout(() => done(`timeout (got ${JSON.stringify(got)})`), opt.timeoutMs);
    s.setNoDelay(true);
    s.once('connect', () => s.write(text));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === want) done();
      else if (!want.startsWith(got)) done(`unexpected reply ${JSON.stringify(got)}`);
    });
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    s.once('close', () => done(`closed early (got ${JSON.stringify(got)})`));
  });
}

process.stdin.resume();
process.stdin.on('end', () => {
  stopping = true;
});

for (let n = 1; !stopping; n++) {
  await once(n);
  await new Promise((r) => setTimeout(r, opt.pauseMs));
}
process.stdout.write(JSON.stringify({ ok, failed: failures.length, failures }) + '\n');
