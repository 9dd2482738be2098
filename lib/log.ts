/**
 * JSON-lines logger. Messages are constant strings; data goes in fields. Level filtering is decided once at
 * construction, so a filtered call costs one comparison and builds no string.
 */

/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where log lines go; a function so tests can capture them. */
export type LogSink = (line: string) => void;

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A JSON-lines logger bound to a component name and optional base fields. */
export interface Logger {
  readonly level: LogLevel;
  enabled(level: LogLevel): boolean;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly component: string;
  readonly level?: LogLevel;
  readonly sink?: LogSink;
  readonly now?: () => number;
}

/** Parses a level name; undefined when unknown. */
export function parseLogLevel(s: string): LogLevel | undefined {
  return s === 'debug' || s === 'info' || s === 'warn' || s === 'error' ? s : undefined;
}

const stderrSink: LogSink = (line) => {
  process.stderr.write(line + '\n');
};

/** Makes errors serialisable: `{ message, code, stack }` instead of `{}`. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = value.cause instanceof Error ? value.cause.message : String(value.cause);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Creates a logger writing one JSON object per line (to stderr by default). */
export function createLogger(opts: LoggerOptions): Logger {
  const min = RANK[opts.level ?? 'info'];
  const sink = opts.sink ?? stderrSink;
  const now = opts.now ?? Date.now;
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (RANK[level] < min) return;
      const rec = { time: new Date(now()).toISOString(), level, component: opts.component, msg, ...base, ...fields };
      sink(JSON.stringify(rec, replacer));
    };
    return {
      level: opts.level ?? 'info',
      enabled: (level) => RANK[level] >= min,
      debug: (msg, f) => emit('debug', msg, f),
      info: (msg, f) => emit('info', msg, f),
      warn: (msg, f) => emit('warn', msg, f),
      error: (msg, f) => emit('error', msg, f),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}

/** A logger that drops everything; for library callers that did not pass one. */
export const silentLogger: Logger = createLogger({ component: 'silent', level: 'error', sink: () => undefined });
