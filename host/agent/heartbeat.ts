// The Linux agent's Heartbeat (SPEC R8, docs/FORMATS.md): when no message has left for the
// configured time, the core is handed the agent's own counters (uptime, events its sources
// delivered, what waits in the outbox) and sends them in a message at once. Quiet machines still
// say they are alive; busy ones never pay for it.

import { Status, type CallResult, type HeartbeatReport } from '../core.js';

/** `--heartbeat`'s default, in seconds: an hour without a message. */
export const DEFAULT_HEARTBEAT_SECONDS = 3600;
/** How often the agent looks whether a heartbeat is due. */
const CHECK_MS = 1000;

type Deliver = (res: CallResult, what: string) => CallResult;

export interface HeartbeatOptions {
  /** No message for this long (ms) sends a heartbeat; 0: never. */
  intervalMs: number;
  /** Now, for the core (the agent's ordered clock). */
  clock: () => number;
  /** The core's call: a Heartbeat at time t with the report (Core.heartbeat). */
  heartbeat: (t: number, report: HeartbeatReport) => CallResult;
  /** Messages and bytes waiting in the sink's outbox (0 for sinks without one). */
  outbox: () => { messages: number; bytes: number };
}

export class Heartbeat {
  private readonly started: number;
  private lastSent: number;
  private eventsSeen = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: HeartbeatOptions) {
    this.started = opts.clock();
    this.lastSent = this.started;
  }

  /**
   * The agent's deliverer, watched: a call that sent a message restarts the quiet time, and each
   * process or connection record its sources hand to the core counts as an event seen.
   */
  watch(deliver: Deliver): Deliver {
    return (res, what) => {
      if (what === 'process' || what === 'connection') this.eventsSeen++;
      if (res.messages.length > 0) this.lastSent = this.opts.clock();
      return deliver(res, what);
    };
  }

  /** Looks every second from now on (nothing when the interval is 0); the heartbeats go through `deliver`. */
  start(deliver: Deliver): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => this.check(deliver), CHECK_MS);
  }

  stop(): void { clearInterval(this.timer); }

  /** Sends a heartbeat when nothing has left for the interval. */
  check(deliver: Deliver): void {
    const t = this.opts.clock();
    if (this.opts.intervalMs <= 0 || t - this.lastSent < this.opts.intervalMs) return;
    const { messages, bytes } = this.opts.outbox();
    const res = deliver(this.opts.heartbeat(t, {
      UptimeSeconds: Math.floor((t - this.started) / 1000),
      EventsSeen: this.eventsSeen,
      OutboxMessages: messages,
      OutboxBytes: bytes,
    }), 'heartbeat');
    // Refused (the deliverer logs why): try again a whole interval later, not every second.
    if (res.status !== Status.Ok) this.lastSent = t;
  }
}
