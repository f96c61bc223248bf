// `microtally run`: the live Linux agent. Wires collectors → core → sink, plus the tick timer,
// the baseline/system-information schedule and the device twin; everything else lives in the
// modules it imports.

import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { Core, Status, type CallResult } from '../core.js';
import { fsContext, runChecks } from './collectors/baseline.js';
import { CIS_DEBIAN_CHECKS } from './collectors/cis-debian.js';
import { ConnectionCollector } from './collectors/connections.js';
import { ProcessCollector } from './collectors/processes.js';
import { readSysinfo } from './collectors/sysinfo.js';
import { StderrLogger } from './log.js';
import { AgentSettings } from './settings.js';
import { createSink, UsageError, type SinkSetup } from './sinks/index.js';
import { Twin } from './twin.js';

export const RUN_USAGE = `usage: microtally run [--config <file>] [--sink stdout|file:<path>|mqtt://host:port|mqtts://host:port]
                     [--device-id <id>] [--connection-string "<IoT Hub device connection string>"] [--agent-id <uuid>]`;

const TICK_MS = 1000;
const SHUTDOWN_FLUSH_MS = 10_000;
/** setTimeout's longest delay; longer periods run a little early, which the windows absorb. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunArgs {
  config?: string;
  sink?: string;
  deviceId?: string;
  connectionString?: string;
  agentId?: string;
  help?: boolean;
}

const FLAGS: Record<string, keyof RunArgs> = {
  '--config': 'config',
  '--sink': 'sink',
  '--device-id': 'deviceId',
  '--connection-string': 'connectionString',
  '--agent-id': 'agentId',
};

/** Parses the arguments after `run` (a leading `run` is accepted too); throws UsageError. */
export function parseRunArgs(argv: string[]): RunArgs {
  const args: RunArgs = {};
  const rest = argv[0] === 'run' ? argv.slice(1) : argv;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--help' || a === '-h') { args.help = true; continue; }
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const key = FLAGS[flag];
    if (!key) throw new UsageError(`unknown argument ${JSON.stringify(flag)}`);
    const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (args[key] !== undefined) throw new UsageError(`${flag} given twice`);
    (args as Record<string, string>)[key] = value;
  }
  return args;
}

/** A stable agent id: the machine id when there is one, else a hash of the host name. */
export function defaultAgentId(): string {
  let hex: string;
  try {
    hex = readFileSync('/etc/machine-id', 'utf8').trim();
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error('malformed');
  } catch {
    hex = createHash('sha256').update(`microtally:${hostname()}`).digest('hex').slice(0, 32);
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface AgentIo {
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: Writable;
  /** Where log lines go (default process.stderr). */
  stderr?: (line: string) => void;
  /** Aborting it stops the agent as SIGTERM does (for embedding and tests). */
  signal?: AbortSignal;
}

export async function runAgent(argv: string[], io: AgentIo = {}): Promise<number> {
  const log = new StderrLogger(io.stderr);
  let args: RunArgs;
  try {
    args = parseRunArgs(argv);
  } catch (e) {
    log.error(`${(e as Error).message}\n${RUN_USAGE}`);
    return 2;
  }
  if (args.help) { (io.stdout ?? process.stdout).write(`${RUN_USAGE}\n`); return 0; }
  log.redact(args.connectionString);

  let core: Core;
  try {
    core = new Core('linux');
  } catch (e) {
    log.error(`cannot load the core blob: ${(e as Error).message}`);
    return 1;
  }
  let last = 0;
  const clock = (): number => (last = Math.max(last, Date.now())); // the core rejects time going back
  const agentIdError = core.setAgentId(args.agentId ?? defaultAgentId());
  if (agentIdError) { log.error(`--agent-id: ${agentIdError}`); return 2; }

  const settings = new AgentSettings();
  if (args.config !== undefined) {
    let text: string;
    let update: unknown;
    try {
      text = readFileSync(args.config, 'utf8');
      update = JSON.parse(text);
    } catch (e) {
      log.error(`--config ${args.config}: ${(e as Error).message}`);
      return 2;
    }
    const res = core.configure(clock(), text);
    if (res.status !== Status.Ok) { log.error(`--config ${args.config}: ${res.reason}`); return 2; }
    settings.merge(update as Record<string, unknown>);
  }

  let setup: SinkSetup;
  try {
    setup = createSink({ spec: args.sink, connectionString: args.connectionString, deviceId: args.deviceId, log, stdout: io.stdout });
  } catch (e) {
    log.error(`${(e as Error).message}\n${RUN_USAGE}`);
    return 2;
  }
  const { sink } = setup;

  const reasons = new Set<string>();
  const deliver = (res: CallResult, what: string): CallResult => {
    for (const m of res.messages) sink.send(m);
    if (res.status === Status.Skipped && reasons.size < 100 && !reasons.has(`${what}: ${res.reason}`)) {
      reasons.add(`${what}: ${res.reason}`); // each distinct reason once, so a bad source cannot flood the log
      log.warn(`core skipped a ${what} record: ${res.reason}`);
    }
    return res;
  };

  const triggers = new Map<string, NodeJS.Timeout>();
  const trigger = (kind: 'baseline' | 'systemInformation', run: () => void): void => {
    clearTimeout(triggers.get(kind));
    const period = settings.periodMs(kind);
    if (period === undefined) return;
    run();
    triggers.set(kind, setTimeout(() => trigger(kind, run), Math.min(period, MAX_TIMER_MS)));
  };
  const runBaseline = (): void => {
    for (const rec of runChecks(CIS_DEBIAN_CHECKS, clock(), fsContext('/'))) deliver(core.ingestBaseline(rec), 'baseline');
  };
  const runSysinfo = (): void => { deliver(core.ingestSysinfo(readSysinfo(clock())), 'system information'); };
  const startTriggers = (): void => {
    trigger('systemInformation', runSysinfo);
    trigger('baseline', runBaseline);
  };

  if (setup.mqtt) {
    const mqtt = setup.mqtt;
    const twin = new Twin({
      log,
      apply: (section) => {
        const res = deliver(core.configure(clock(), JSON.stringify(section)), 'configuration');
        if (res.status !== Status.Ok) return { ok: false, reason: res.reason };
        settings.merge(section);
        startTriggers(); // windows restarted: give the new ones their baseline and system information
        return { ok: true };
      },
      status: () => ({ outboxQueued: mqtt.outbox.length, outboxDropped: mqtt.outbox.dropped }),
    });
    mqtt.onConnect((s) => void twin.connected(s));
    mqtt.onMessage((topic, payload) => twin.message(topic, payload));
  }

  // The first report includes what was already running and open when the agent started: a
  // security agent that starts after an intruder must not miss what the intruder left running.
  const processes = new ProcessCollector({ emit: (r) => deliver(core.ingestProcess(r), 'process'), now: clock,
    ignoreChildrenOf: process.pid, inventory: true, log });
  const connections = new ConnectionCollector({ emit: (r) => deliver(core.ingestConnection(r), 'connection'), now: clock,
    inventory: true, log });
  processes.start();
  connections.start();
  startTriggers();
  const ticker = setInterval(() => deliver(core.tick(clock()), 'tick'), TICK_MS);
  log.info(`running; sending to ${setup.description}`);

  const why = await stopRequested(io.signal);

  log.info(`${why}: sending what is pending`);
  clearInterval(ticker);
  for (const t of triggers.values()) clearTimeout(t);
  processes.stop();
  connections.stop();
  connections.flush();
  deliver(core.finish(), 'finish');
  const undelivered = await sink.close(SHUTDOWN_FLUSH_MS);
  log.info(`stopped: ${core.stats()}`);
  return undelivered > 0 ? 1 : 0;
}

/** Resolves with what asked the agent to stop: SIGINT, SIGTERM or the abort signal; removes its listeners. */
function stopRequested(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => (): void => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = done('SIGINT');
    const onTerm = done('SIGTERM');
    const onAbort = done('stop request');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
