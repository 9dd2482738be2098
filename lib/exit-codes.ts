/** Process exit codes shared by every ccmesh command. */
export const EXIT = Object.freeze({
  ok: 0,
  internal: 1,
  /** Evidence or another verified object was rejected. */
  rejected: 3,
  /** Bad usage, bad configuration or unreadable input (sysexits EX_USAGE). */
  usage: 64,
});
