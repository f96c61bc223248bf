// Device twin configuration over MQTT: the `microtally` section of the desired properties is
// applied through the core's configuration (the core validates it and sends-then-applies);
// the outcome is written back to the reported properties in the shape both agents use (SPEC
// section 2): `microtally.configuration` {version, status, reason}, agentVersion, coreSequence.

import type { Logger } from './log.js';
import type { MqttSession } from './sinks/mqtt.js';

export const DESIRED_PATCH_TOPIC = '$iothub/twin/PATCH/properties/desired/';
export const TWIN_RESPONSE_TOPIC = '$iothub/twin/res/';

export interface ApplyOutcome { ok: boolean; reason?: string }

export interface TwinOptions {
  /** Applies one configuration update (a JSON object); called only with objects. */
  apply: (section: Record<string, unknown>) => ApplyOutcome;
  log: Logger;
  /** Name of our section in the desired properties. */
  section?: string;
  /** The agent's version (package.json), reported as `agentVersion`. */
  agentVersion: string;
  /** The running core's update sequence (0: the built-in core), reported as `coreSequence`. */
  coreSequence?: () => number;
  /** Extra reported properties (e.g. outbox counters), sent with each configuration report. */
  status?: () => Record<string, unknown>;
}

/** A twin `null` deletes the property: the current value simply stays in force. */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v) || v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}

export class Twin {
  private session?: MqttSession;
  private rid = 0;
  private getRid = '';
  private lastVersion = -1;
  private lastApplied = '';
  private readonly name: string;
  /** Patches seen (for tests and logs): applied and rejected. */
  applied = 0;
  rejected = 0;

  constructor(private readonly opts: TwinOptions) {
    this.name = opts.section ?? 'microtally';
  }

  /** On each new connection: subscribe, then ask for the full twin (brokers other than IoT Hub just never answer). */
  async connected(session: MqttSession): Promise<void> {
    this.session = session;
    try {
      await session.subscribe([`${DESIRED_PATCH_TOPIC}#`, `${TWIN_RESPONSE_TOPIC}#`]);
      this.getRid = String(++this.rid);
      await session.publish(`$iothub/twin/GET/?$rid=${this.getRid}`, '');
    } catch (e) {
      this.opts.log.warn(`twin subscription failed: ${(e as Error).message}`);
    }
  }

  message(topic: string, payload: Buffer): void {
    if (topic.startsWith(DESIRED_PATCH_TOPIC)) {
      this.desired(this.parse(payload), 'patch');
    } else if (topic.startsWith(TWIN_RESPONSE_TOPIC)) {
      const m = /^\$iothub\/twin\/res\/(\d+)\/\?(.*)$/.exec(topic);
      const rid = new URLSearchParams(m?.[2] ?? '').get('$rid');
      if (!m || rid !== this.getRid) return; // answers to our reported-property updates
      if (m[1] !== '200') { this.opts.log.warn(`twin GET answered status ${m[1]}`); return; }
      const doc = this.parse(payload) as { desired?: unknown } | undefined;
      if (doc && typeof doc === 'object') this.desired(doc.desired, 'twin');
    }
  }

  private parse(payload: Buffer): unknown {
    try {
      return JSON.parse(payload.toString('utf8'));
    } catch {
      this.opts.log.warn('twin: desired properties are not valid JSON; ignored');
      return undefined;
    }
  }

  private desired(doc: unknown, source: string): void {
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return;
    const d = doc as Record<string, unknown>;
    const version = typeof d.$version === 'number' ? d.$version : undefined;
    if (!(this.name in d)) return;
    if (version !== undefined && version <= this.lastVersion) return; // already seen (full twin after a reconnect)
    if (version !== undefined) this.lastVersion = version;
    const section = withoutNulls(d[this.name]);
    let outcome: ApplyOutcome;
    if (!section || typeof section !== 'object' || Array.isArray(section)) {
      outcome = { ok: false, reason: `${this.name}: must be an object` };
    } else {
      const text = JSON.stringify(section);
      if (text === this.lastApplied) return; // nothing changes: do not force the windows out
      outcome = this.opts.apply(section as Record<string, unknown>);
      if (outcome.ok) this.lastApplied = text;
    }
    const v = version === undefined ? '' : ` (version ${version})`;
    if (outcome.ok) {
      this.applied++;
      this.opts.log.info(`configuration from twin ${source}${v} applied`);
    } else {
      this.rejected++;
      this.opts.log.warn(`configuration from twin ${source}${v} rejected: ${outcome.reason}`);
    }
    // An applied patch reports `reason: null`: reported properties merge, so a stale reason would stay otherwise.
    const configuration = { version: version ?? null, status: outcome.ok ? 'applied' : 'rejected', reason: outcome.ok ? null : outcome.reason ?? 'no reason given' };
    this.report({ configuration, agentVersion: this.opts.agentVersion, coreSequence: this.opts.coreSequence?.() ?? 0 });
  }

  private report(props: Record<string, unknown>): void {
    const body = JSON.stringify({ [this.name]: { ...props, ...this.opts.status?.() } });
    this.session?.publish(`$iothub/twin/PATCH/properties/reported/?$rid=${++this.rid}`, body).catch(() => { /* reported again with the next change */ });
  }
}
