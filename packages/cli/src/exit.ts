/** Exit codes, documented in the README: scripts branch on them. bin.ts turns 130 into 143 after SIGTERM. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130, terminated: 143 } as const;
