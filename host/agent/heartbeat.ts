// The Linux agent's Heartbeat (SPEC R8, docs/FORMATS.md): when no message has left for the
// configured time, the core is handed the agent's own counters (uptime, events its sources
// delivered, what waits in the outbox) and sends them in a message at once. Quiet machines still
// say they are alive; busy ones never pay for it.

import type { CallResult, HeartbeatReport } from '../core.js';

/** `--heartbeat`'s default, in seconds: an hour without a message. */
export const DEFAULT_HEARTBEAT_SECONDS = 3600;
/** setTimeout's longest delay; a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  private deliver?: Deliver;

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
      if (res.messages.length > 0 && what !== 'heartbeat') this.quietSince(this.opts.clock());
      return deliver(res, what);
    };
  }

  /** From now on a heartbeat goes out through `deliver` whenever one is due (never when the interval is 0). */
  start(deliver: Deliver): void {
    this.deliver = deliver;
    this.arm();
  }

  stop(): void {
    this.deliver = undefined;
    clearTimeout(this.timer);
  }

  private quietSince(t: number): void {
    this.lastSent = t;
    this.arm();
  }

  /** A timer for the moment the quiet time runs out (set again by every message that leaves). */
  private arm(): void {
    clearTimeout(this.timer);
    if (!this.deliver || this.opts.intervalMs <= 0) return;
    const wait = this.lastSent + this.opts.intervalMs - this.opts.clock();
    this.timer = setTimeout(() => this.due(), Math.min(MAX_TIMER_MS, Math.max(0, wait)));
  }

  private due(): void {
    const t = this.opts.clock();
    // Early (a long wait taken in steps, or the agent's clock held back for kernel events): wait on.
    if (t - this.lastSent < this.opts.intervalMs || !this.deliver) { this.arm(); return; }
    const { messages, bytes } = this.opts.outbox();
    // Refused or not (the deliverer logs a refusal), the next one is a whole interval later.
    this.deliver(this.opts.heartbeat(t, {
      UptimeSeconds: Math.floor((t - this.started) / 1000),
      EventsSeen: this.eventsSeen,
      OutboxMessages: messages,
      OutboxBytes: bytes,
    }), 'heartbeat');
    this.quietSince(t);
  }
}
