// Where the agent's messages go. Every sink takes complete messages, one at a time: JSON text,
// or the bytes of a CBOR message (messageFormat "cbor").

export interface Sink {
  send(message: string | Uint8Array): void;
  /** Delivers what is queued, waiting at most `timeoutMs`; resolves to the number of messages not delivered. */
  close(timeoutMs: number): Promise<number>;
  /** Opens its file again by name (SIGHUP after log rotation); sinks without a file have none. */
  reopen?(): void;
}
