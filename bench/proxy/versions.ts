/** Versions of the tools a proxy run depends on, for the JSON lines and the report header. */
import { release } from 'node:os';
import { tryOutput } from './processes.js';

function first(re: RegExp, text: string | undefined): string {
  return (text === undefined ? undefined : re.exec(text)?.[1]) ?? 'not installed';
}

/** haproxy, nginx, wrk, h2load, openssl, node and the kernel. */
export function toolVersions(): Record<string, string> {
  return {
    haproxy: first(/HAProxy version (\S+)/, tryOutput('haproxy', ['-v'])),
    nginx: first(/nginx\/(\S+)/, tryOutput('nginx', ['-v'])),
    wrk: first(/wrk (\S+)/, tryOutput('wrk', ['-v'])),
    h2load: first(/nghttp2\/(\S+)/, tryOutput('h2load', ['--version'])),
    openssl: first(/OpenSSL (\S+)/, tryOutput('openssl', ['version'])),
    node: process.version,
    kernel: release(),
  };
}
