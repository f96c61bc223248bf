// The agent's two kinds of refusal at start, shared by the sinks and the identity modules.

export class UsageError extends Error {}
/** Refused for safety (a readable secret, a sink file not the agent's): one line, no usage text, exit 2. */
export class RefusedError extends Error {}
