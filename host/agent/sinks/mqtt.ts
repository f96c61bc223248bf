// MQTT sink speaking IoT Hub's device protocol (works with any MQTT 3.1.1 broker too).
// Each connection attempt gets a fresh mqtt.js client with its own reconnection turned off, so
// this class alone decides when to reconnect (with backoff) and what to resend: messages stay in
// the bounded outbox until the broker acknowledges them (QoS 1), and go out again after a reconnect.

import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { Outbox, transportDropped, type OutboxLimits } from '../outbox.js';
import type { Sink } from './sink.js';
import { DIRECT, type Transport } from './transport.js';

/** The message properties IoT Hub reads from the topic: interface id, content type, encoding. */
export const SECURITY_MESSAGE_PROPERTIES: Array<[string, string]> = [
  ['$.ifid', 'urn:azureiot:Security:SecurityAgent:1'],
  ['$.ct', 'application/json'],
  ['$.ce', 'utf-8'],
];

/** The same for a CBOR message (messageFormat "cbor", docs/CBOR.md): binary, so no text encoding. */
export const CBOR_MESSAGE_PROPERTIES: Array<[string, string]> = [
  ['$.ifid', 'urn:azureiot:Security:SecurityAgent:1'],
  ['$.ct', 'application/cbor'],
];

export function telemetryTopic(deviceId: string, format: 'json' | 'cbor' = 'json', moduleId?: string): string {
  const props = (format === 'cbor' ? CBOR_MESSAGE_PROPERTIES : SECURITY_MESSAGE_PROPERTIES).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const module = moduleId ? `/modules/${encodeURIComponent(moduleId)}` : '';
  return `devices/${encodeURIComponent(deviceId)}${module}/messages/events/${props}`;
}

/** What other agent parts (the twin) may do on the live connection. */
export interface MqttSession {
  subscribe(topics: string[]): Promise<void>;
  publish(topic: string, payload: string): Promise<void>;
}

export interface MqttSinkOptions {
  /** mqtt://host:port, mqtts://host:port, ws://host:port/path or wss://host:port/path */
  url: string;
  deviceId: string;
  /** A module identity: client id `device/module`, telemetry on the module's topic. */
  moduleId?: string;
  log: Logger;
  username?: string;
  /** Called at each connection attempt, so a renewed SAS token is used. */
  password?: () => string;
  /** When to reconnect with a fresh password (ms since the epoch), asked after each connect. */
  renewAt?: () => number;
  tls?: Pick<IClientOptions, 'ca' | 'rejectUnauthorized' | 'servername' | 'cert' | 'key'>;
  /** Turns a connection error into the one line logged (e.g. a TLS error naming the file to fix). */
  explainError?: (e: Error) => string;
  outbox?: OutboxLimits;
  /** Makes the outbox instead (the disk outbox, host/agent/diskoutbox.ts), given the drop handler. */
  createOutbox?: (onDrop?: (text: string | Uint8Array) => void) => Outbox;
  /** WebSockets through a proxy (sinks/transport.ts); direct by default. */
  transport?: Transport;
  backoff?: { initialMs: number; maxMs: number };
  maxInFlight?: number;
  /**
   * Called for each message the outbox could not keep, with the messages it stands for: 1, plus
   * the drops its own `transport` record reported (they would be lost with it). The agent hands
   * the number to the core (reportLoss), so the next message that leaves carries it.
   */
  onDropped?: (messages: number) => void;
}

export class MqttSink implements Sink {
  readonly topic: string;
  /** Where CBOR messages go: the same topic with `$.ct=application/cbor`. */
  readonly cborTopic: string;
  readonly outbox: Outbox;
  /** The MQTT client id: the device id, or `device/module`. */
  readonly clientId: string;
  /** Connections established so far. */
  connects = 0;
  private client?: MqttClient;
  private generation = 0;
  private isConnected = false;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private renewing = false;
  private closed = false;
  private reportedDropped = 0;
  private overflowing = false;
  private readonly connectHandlers: Array<(s: MqttSession) => void> = [];
  private readonly messageHandlers: Array<(topic: string, payload: Buffer) => void> = [];
  private readonly drainWaiters: Array<() => void> = [];
  private readonly log: Logger;

  constructor(private readonly opts: MqttSinkOptions) {
    this.clientId = opts.moduleId ? `${opts.deviceId}/${opts.moduleId}` : opts.deviceId;
    this.topic = telemetryTopic(opts.deviceId, 'json', opts.moduleId);
    this.cborTopic = telemetryTopic(opts.deviceId, 'cbor', opts.moduleId);
    const onDropped = opts.onDropped;
    const onDrop = onDropped && ((text: string | Uint8Array) => onDropped(1 + transportDropped(text)));
    this.outbox = opts.createOutbox ? opts.createOutbox(onDrop) : new Outbox(opts.outbox, onDrop);
    this.log = opts.log;
    this.connect();
  }

  get connected(): boolean { return this.isConnected; }

  private get transport(): Transport { return this.opts.transport ?? DIRECT; }

  onConnect(handler: (s: MqttSession) => void): void { this.connectHandlers.push(handler); }
  onMessage(handler: (topic: string, payload: Buffer) => void): void { this.messageHandlers.push(handler); }

  send(message: string | Uint8Array): void {
    const dropped = this.outbox.push(message);
    if (dropped > 0) this.warnDropped();
    this.pump();
  }

  async close(timeoutMs: number): Promise<number> {
    this.closed = true;
    if (!this.isConnected && this.reconnectTimer && this.outbox.length > 0) {
      clearTimeout(this.reconnectTimer); // try at once rather than after the current backoff
      this.reconnectTimer = undefined;
      this.connect();
    }
    if (this.outbox.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drainWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.renewTimer);
    const client = this.client;
    this.generation++;
    this.isConnected = false;
    if (client) await new Promise<void>((resolve) => client.end(this.outbox.length > 0, {}, () => resolve()));
    this.reportDropped();
    const left = this.outbox.length - this.outbox.close(); // kept on disk: sent after the next start
    if (left > 0) this.log.error(`${left} message(s) not delivered to ${this.opts.url} before exit`);
    return left + this.outbox.dropped;
  }

  private connect(): void {
    const gen = ++this.generation;
    const client = connect(this.opts.url, {
      clientId: this.clientId,
      username: this.opts.username,
      password: this.opts.password?.(),
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...this.opts.tls,
      ...this.transport.options,
    });
    this.client = client;
    let errorLogged = false;
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.isConnected = true;
      this.attempt = 0;
      this.connects++;
      this.log.info(`connected to ${this.opts.url} as ${this.clientId}${this.transport.via ? ` ${this.transport.via}` : ''}`);
      this.scheduleRenewal(gen);
      this.reportDropped();
      const session = this.session(client, gen);
      for (const h of this.connectHandlers) h(session);
      this.pump();
    });
    client.on('message', (topic, payload) => {
      if (gen !== this.generation) return;
      for (const h of this.messageHandlers) h(topic, payload);
    });
    client.on('error', (e) => {
      if (gen !== this.generation || errorLogged) return;
      errorLogged = true;
      // Through a proxy the proxy's view explains a failure first, then TLS's (iothub/identity.ts).
      const explained = this.opts.explainError?.(e) ?? e.message;
      this.log.warn(`MQTT ${this.opts.url}: ${this.transport.via ? this.transport.explain(e, explained) : explained}`);
    });
    client.on('close', () => {
      if (gen !== this.generation) return;
      this.generation++;
      const wasConnected = this.isConnected;
      this.isConnected = false;
      clearTimeout(this.renewTimer);
      this.outbox.requeueInFlight();
      client.end(true);
      if (wasConnected && !this.renewing) this.log.warn(`disconnected from ${this.opts.url}; ${this.outbox.length} message(s) queued`);
      // The first failed attempt of an outage is worth a line even when the broker said nothing (e.g. refused credentials).
      const refused = wasConnected || errorLogged ? undefined : this.transport.refusal();
      if (refused) this.log.warn(`MQTT ${this.opts.url}: ${refused}`);
      else if (!wasConnected && !errorLogged && this.attempt === 0) this.log.warn(`connection to ${this.opts.url} closed before it was accepted`);
      const delay = this.renewing ? 0 : this.backoffDelay();
      this.renewing = false;
      this.reconnectTimer = setTimeout(() => { this.reconnectTimer = undefined; this.connect(); }, delay);
    });
  }

  private backoffDelay(): number {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt++, 20));
    return Math.round(base * (0.8 + 0.4 * Math.random())); // jitter, so a fleet does not reconnect in step
  }

  /** Reconnects with a fresh password shortly before the current one expires. */
  private scheduleRenewal(gen: number): void {
    const at = this.opts.renewAt?.();
    if (at === undefined) return;
    this.renewTimer = setTimeout(() => {
      if (gen !== this.generation || !this.client) return;
      this.log.info('renewing the SAS token: reconnecting');
      this.renewing = true;
      this.client.end(false); // waits for messages in flight, then the close handler reconnects at once
    }, Math.max(1000, at - Date.now()));
  }

  private session(client: MqttClient, gen: number): MqttSession {
    return {
      subscribe: (topics) => new Promise((resolve, reject) => {
        if (gen !== this.generation) { reject(new Error('connection closed')); return; }
        client.subscribe(topics, { qos: 0 }, (err) => (err ? reject(err) : resolve()));
      }),
      publish: (topic, payload) => new Promise((resolve, reject) => {
        if (gen !== this.generation) { reject(new Error('connection closed')); return; }
        client.publish(topic, payload, { qos: 0 }, (err) => (err ? reject(err) : resolve()));
      }),
    };
  }

  private pump(): void {
    const client = this.client;
    if (!client || !this.isConnected) return;
    const gen = this.generation;
    const max = this.opts.maxInFlight ?? 16;
    for (let n = this.outbox.inFlightCount(); n < max; n++) {
      const e = this.outbox.nextUnsent();
      if (!e) break;
      e.inFlight = true;
      const cbor = typeof e.text !== 'string';
      client.publish(cbor ? this.cborTopic : this.topic, cbor ? Buffer.from(e.text) : e.text as string, { qos: 1 }, (err) => {
        if (gen !== this.generation) return;
        if (err) return; // the connection is going down; the close handler requeues it
        this.outbox.ack(e.id);
        if (this.outbox.length === 0) {
          this.reportDropped();
          this.drainWaiters.splice(0).forEach((w) => w());
        }
        this.pump();
      });
    }
  }

  /** Warns at the first loss of an overflow episode; the total is logged once delivery resumes. */
  private warnDropped(): void {
    if (this.overflowing) return;
    this.overflowing = true;
    const l = this.outbox.limits;
    this.log.warn(`outbox full (${l.maxBytes} bytes or ${l.maxMessages} messages): dropping the oldest messages`);
  }

  private reportDropped(): void {
    const d = this.outbox.dropped;
    if (d === this.reportedDropped) return;
    this.log.warn(`outbox overflow: ${d - this.reportedDropped} message(s) dropped; ${d} message(s), ${this.outbox.droppedBytes} bytes in all since start`);
    this.reportedDropped = d;
    this.overflowing = false;
  }
}
