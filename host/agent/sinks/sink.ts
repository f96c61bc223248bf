// Where the agent's messages go. Every sink takes complete JSON messages, one at a time.

export interface Sink {
  send(message: string): void;
  /** Delivers what is queued, waiting at most `timeoutMs`; resolves to the number of messages not delivered. */
  close(timeoutMs: number): Promise<number>;
}
