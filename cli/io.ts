/** How commands talk to the terminal; injected so tests capture output without spawning a process. */

/** Output channels of a command. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM; long-running commands drain and return when it fires. */
  readonly signal?: AbortSignal;
  /**
   * Declares how long this command may take to drain after the signal fires; the process is ended that long after
   * the first signal whatever still runs (default 10 s). Only long-running commands with a longer drain call it.
   */
  readonly drainWithin?: (ms: number) => void;
  /** Standard input, for commands that read it when given "-" (absent in tests that don't feed it). */
  readonly stdin?: () => AsyncIterable<Buffer | string>;
}

/** A command: takes its own arguments (after the subcommand words) and returns an exit code. */
export type Command = (argv: readonly string[], io: CliIo) => Promise<number>;
