// `microtally run`: the live Linux agent. Wires collectors → core → sink, plus the tick timer,
// the baseline/system-information schedule and the device twin; everything else lives in the
// modules it imports. runAgent reads as its steps: connection string, core and configuration,
// sink, twin, collectors, then wait for a stop and send what is pending. Its options arrive as
// values (RunOptions), parsed by the command layer (host/commands/run.ts).

import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { usageHint } from '../commands/command.js';
import { Core, Status, type CallResult, type LossCollector } from '../core.js';
import { fsContext, runChecks } from './collectors/baseline.js';
import { CIS_DEBIAN_CHECKS } from './collectors/cis-debian.js';
import { ConnectionCollector } from './collectors/connections.js';
import { KernelEventStats, superviseKernelEvents, type KernelSources } from './collectors/kernel-events.js';
import { ProcessCollector } from './collectors/processes.js';
import { readSysinfo } from './collectors/sysinfo.js';
import { readSecretFile } from './iothub/identity.js';
import { resolveIdentity, StoppedBeforeStart, type IdentityOptions, type ResolvedIdentity } from './iothub/resolve.js';
import { Daemon, isJournalStream } from './daemon.js';
import { DEFAULT_HEARTBEAT_SECONDS, Heartbeat } from './heartbeat.js';
import { StderrLogger, type LogFormat, type LogLevel } from './log.js';
import { AgentSettings } from './settings.js';
import { createSink, RefusedError, type SinkSetup } from './sinks/index.js';
import type { Sink } from './sinks/sink.js';
import { Twin, type ApplyOutcome } from './twin.js';
import { AgentUpdates, DROP_IN_POLL_MS, openDropIn, UPDATE_METHOD, type CoreApi } from '../update/agent.js';
import { loadPublicKey } from '../update/package.js';
import { DEFAULT_STATE_DIR, StateError } from '../update/state.js';
import { VERSION } from '../version.js';

/** The environment variable that may carry the IoT Hub device connection string. */
export const CONNECTION_STRING_ENV = 'MICROTALLY_CONNECTION_STRING';

const TICK_MS = 1000;
/** How far the agent's clock waits behind now for kernel events not yet read (a stalled helper). */
const KERNEL_MAX_LAG_MS = 30_000;
const SHUTDOWN_FLUSH_MS = 10_000;
/** setTimeout's longest delay; longer periods run a little early, which the windows absorb. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `microtally run`'s options as values (the command layer, host/commands/run.ts, parses and
 * checks them). At most one of connectionString and connectionStringFile (the file wins).
 */
export interface RunOptions extends IdentityOptions {
  config?: string;
  sink?: string;
  deviceId?: string;
  connectionString?: string;
  connectionStringFile?: string;
  allowReadableSecret?: boolean;
  agentId?: string;
  logLevel?: LogLevel;
  /** text (default) or json; either with journald priorities when stderr is the journal. */
  logFormat?: LogFormat;
  /** Seconds without a message before a Heartbeat is sent (default 3600; 0: never). */
  heartbeatSeconds?: number;
  source?: SourceChoice;
  /** The agent's state directory (the disk outbox, the DPS assignment, the installed core; default DEFAULT_STATE_DIR). */
  stateDir?: string;
  /** The disk outbox's size limit in bytes. */
  outboxMaxBytes?: number;
  /** An HTTP(S) proxy for MQTT over WebSockets (else HTTPS_PROXY). */
  proxy?: string;
  /** The public key (PEM file) core update packages must be signed with; updates are off without it. */
  updateKey?: string;
  /** A package installed at start. */
  update?: string;
  /** The drop-in folder for packages (default <stateDir>/incoming). */
  updateDir?: string;
}

/**
 * The connection string from the file, the environment or (warned about) the command line;
 * undefined when none. Throws UsageError naming what is wrong.
 */
export function connectionString(args: RunOptions, env: NodeJS.ProcessEnv, log: StderrLogger): string | undefined {
  if (args.connectionStringFile !== undefined) {
    // Masked as read, before the mode check can print a word (the key inside it too).
    return readSecretFile(args.connectionStringFile, '--connection-string-file', args.allowReadableSecret, log,
      (text) => redactConnectionString(text.trim(), log)).trim();
  }
  if (args.connectionString !== undefined) {
    redactConnectionString(args.connectionString, log);
    log.warn('--connection-string puts the device key on the command line, where every local user can read it: '
      + `use --connection-string-file <path> (mode 0600) or ${CONNECTION_STRING_ENV}`);
    return args.connectionString;
  }
  const fromEnv = env[CONNECTION_STRING_ENV]?.trim();
  if (fromEnv) { redactConnectionString(fromEnv, log); return fromEnv; }
  return undefined;
}

/** Masks the connection string and its key from the moment it is read, before anything can print it. */
function redactConnectionString(cs: string, log: StderrLogger): void {
  log.redact(cs);
  log.redact(/(?:^|;)\s*SharedAccessKey\s*=\s*([^;]*)/i.exec(cs)?.[1]?.trim());
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
  /** The environment (default process.env): where MICROTALLY_CONNECTION_STRING is read. */
  env?: NodeJS.ProcessEnv;
  /** The kernel event helper to run (tests); default build/native/microtally-events. */
  helperPath?: string;
}

/**
 * Runs the agent until a stop request. A value it cannot use (an unreadable file, a sink, an
 * agent id or a configuration refused) is a usage error: one log line (secrets masked), the
 * pointer to `--help`, exit status 2.
 */
export async function runAgent(args: RunOptions, io: AgentIo = {}): Promise<number> {
  const log = new StderrLogger(io.stderr);
  const usageError = (message: string): number => { log.error(`${message}\n${usageHint('run')}`); return 2; };
  if (args.logLevel) log.setLevel(args.logLevel);
  log.setFormat(args.logFormat ?? 'text', !io.stderr && isJournalStream(io.env ?? process.env));
  let cs: string | undefined;
  let identity: ResolvedIdentity;
  try {
    cs = connectionString(args, io.env ?? process.env, log);
    identity = await resolveIdentity(args, cs !== undefined, log, io.signal); // certificate, CA, DPS assignment
  } catch (e) {
    if (e instanceof StoppedBeforeStart) { log.info(e.message); return 0; }
    if (e instanceof RefusedError) { log.error(e.message); return 2; }
    return usageError((e as Error).message);
  }

  const agent = loadCore(args, log, usageError);
  if (typeof agent === 'number') return agent;
  let setup: SinkSetup;
  try {
    setup = createSink({ spec: args.sink, connectionString: cs, ...identity, deviceId: args.deviceId, log, stdout: io.stdout,
      onDropped: (n) => reportLoss(agent.core, 'transport', n, log),
      stateDir: args.stateDir ?? DEFAULT_STATE_DIR, stateDirOptional: args.stateDir === undefined,
      outboxMaxBytes: args.outboxMaxBytes, proxy: args.proxy, env: io.env });
  } catch (e) {
    if (e instanceof RefusedError) { log.error(e.message); return 2; }
    return usageError((e as Error).message);
  }
  const heartbeat = new Heartbeat({ intervalMs: (args.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS) * 1000, clock: agent.clock,
    heartbeat: (t, report) => agent.core.heartbeat(t, report),
    outbox: () => ({ messages: setup.mqtt?.outbox.length ?? 0, bytes: setup.mqtt?.outbox.bytes ?? 0 }) });
  const deliver = heartbeat.watch(deliverer(setup.sink, log));
  const schedule = new TriggerSchedule(agent, deliver);
  const apply = configurator(agent, deliver, schedule);
  if (setup.mqtt) followTwin(setup, apply, () => agent.updates?.up.running.sequence ?? 0, log);
  const dropIn = agent.updates ? startUpdates(args, agent.updates, setup, deliver, log) : undefined;
  if (typeof dropIn === 'number') { await setup.sink.close(SHUTDOWN_FLUSH_MS); return dropIn; }
  const daemon = new Daemon(io.env, log); // from here on SIGHUP waits for the reload, systemd's watchdog is fed
  const collectors = await startCollectors(agent, deliver, log, args.source ?? 'auto', io.helperPath);
  if (typeof collectors === 'number') { daemon.close(); await setup.sink.close(SHUTDOWN_FLUSH_MS); return collectors; }
  schedule.start();
  heartbeat.start(deliver);
  const ticker = setInterval(() => deliver(agent.core.tick(agent.clock()), 'tick'), TICK_MS);
  // Listening before the line that says it runs: a signal sent on seeing it must stop it cleanly.
  const stop = stopRequested(io.signal, io.env);
  log.info(`running; sending to ${setup.description}`);
  daemon.running(`running; sending to ${setup.description}`,
    { path: args.config, applied: agent.configUpdate, apply, reopen: () => setup.sink.reopen?.() });

  const why = await stop;

  daemon.stopping();
  log.info(`${why}: sending what is pending`);
  clearInterval(ticker);
  clearInterval(dropIn);
  heartbeat.stop();
  schedule.stop();
  collectors.stop();
  deliver(agent.core.finish(), 'finish');
  const undelivered = await setup.sink.close(SHUTDOWN_FLUSH_MS);
  log.info(`stopped: ${agent.core.stats()}`);
  daemon.close();
  return undelivered > 0 ? 1 : 0;
}

/** The core, its clock and the host's copy of the schedule, configured by --config. */
interface Agent {
  /** The core, or with --update-key the swappable one (host/update/agent.ts). */
  core: CoreApi;
  updates?: AgentUpdates;
  /** Now, for the core: never back, and never past what the kernel events read so far cover. */
  clock: () => number;
  /** A record's own time (a kernel event's) for the core: never before an earlier input's. */
  order: (t: number) => number;
  /** Kernel events before this time have all been read (undefined: no helper running). */
  kernelMark?: number;
  settings: AgentSettings;
  /** --config's update as applied at start (SIGHUP applies the file again only when it changed). */
  configUpdate?: unknown;
}

type Deliver = (res: CallResult, what: string) => CallResult;

/** Loads the linux core and applies --agent-id and --config; an exit status when that fails. */
function loadCore(args: RunOptions, log: StderrLogger, usageError: (message: string) => number): Agent | number {
  let core: CoreApi;
  let updates: AgentUpdates | undefined;
  if (args.updateKey !== undefined) {
    // Core updates on: the installed core from the state directory, swappable.
    let pub;
    try { pub = loadPublicKey(readFileSync(args.updateKey)); } catch (e) {
      return usageError(`--update-key ${args.updateKey}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let opened: AgentUpdates | string;
    try { opened = AgentUpdates.open(args.stateDir ?? DEFAULT_STATE_DIR, pub, args.agentId ?? defaultAgentId(), log); } catch (e) {
      if (e instanceof StateError) return usageError(e.message);
      throw e;
    }
    if (typeof opened === 'string') return opened.startsWith('--agent-id') ? usageError(opened) : (log.error(opened), 1);
    core = updates = opened;
  } else {
    try {
      const plain = new Core('linux');
      const agentIdError = plain.setAgentId(args.agentId ?? defaultAgentId());
      if (agentIdError) return usageError(`--agent-id: ${agentIdError}`);
      core = plain;
    } catch (e) {
      log.error(`cannot load the core blob: ${(e as Error).message}`);
      return 1;
    }
  }
  let last = 0;
  // The core rejects time going back; an event is never later than now (nor a time that is no number).
  const order = (t: number): number => (last = Number.isFinite(t) ? Math.max(last, Math.min(t, Date.now())) : last);
  // A window ends only once the kernel events of its time are read: else they would come after it.
  const clock = (): number => {
    const now = Date.now();
    const mark = agent.kernelMark;
    return order(mark === undefined ? now : Math.min(now, Math.max(mark, now - KERNEL_MAX_LAG_MS)));
  };
  const agent: Agent = { core, updates, clock, order, settings: new AgentSettings() };
  const settings = agent.settings;
  if (args.config === undefined) return agent;
  let text: string;
  let update: unknown;
  try {
    text = readFileSync(args.config, 'utf8');
    update = JSON.parse(text);
  } catch (e) {
    return usageError(`--config ${args.config}: ${(e as Error).message}`);
  }
  const res = core.configure(clock(), text);
  if (res.status !== Status.Ok) return usageError(`--config ${args.config}: ${res.reason}`);
  settings.merge(update as Record<string, unknown>);
  agent.configUpdate = update;
  return agent;
}

/**
 * Core updates (docs/UPDATE.md, "The Linux agent"): `--update` installed now, the drop-in folder
 * looked at every second, the direct method `microtally-update` answered on an IoT Hub sink.
 * Returns the drop-in timer, or an exit status when --update or the folder cannot be used.
 */
function startUpdates(args: RunOptions, updates: AgentUpdates, setup: SinkSetup, deliver: Deliver, log: StderrLogger): NodeJS.Timeout | number {
  updates.reportLeftovers();
  if (args.update !== undefined) {
    let pkg: Buffer;
    try { pkg = readFileSync(args.update); } catch (e) {
      log.error(`--update ${args.update}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n${usageHint('run')}`);
      return 2;
    }
    updates.deliver(pkg, args.update);
    deliver(updates.installNow(), 'update');
  }
  const folder = args.updateDir ?? `${args.stateDir ?? DEFAULT_STATE_DIR}/incoming`;
  try { openDropIn(folder); } catch (e) {
    log.error(`--update-dir ${folder}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n${usageHint('run')}`);
    return 2;
  }
  const mqtt = setup.mqtt;
  if (mqtt) {
    // IoT Hub direct methods: `$iothub/methods/POST/<name>/?$rid=<id>`, answered on `$iothub/methods/res/<status>/?$rid=<id>`.
    let session: { publish(topic: string, payload: string): Promise<void> } | undefined;
    mqtt.onConnect((s) => { session = s; s.subscribe(['$iothub/methods/POST/#']).catch((e) => log.warn(`direct methods: subscribe failed: ${(e as Error).message}`)); });
    mqtt.onMessage((topic, payload) => {
      const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
      if (!m || m[1] !== UPDATE_METHOD) return;
      const res = updates.method(payload);
      session?.publish(`$iothub/methods/res/${res.status}/?$rid=${m[2]}`, JSON.stringify(res.body))
        .catch((e) => log.warn(`direct method ${UPDATE_METHOD}: response not sent: ${(e as Error).message}`));
    });
  }
  const timer = setInterval(() => updates.pollDropIn(folder), DROP_IN_POLL_MS);
  timer.unref();
  return timer;
}

/** Hands a loss the core did not see to it, so the next message carries it (docs/FORMATS.md). */
function reportLoss(core: CoreApi, collector: LossCollector, count: number | 'unknown', log: StderrLogger): void {
  const refused = core.reportLoss(collector, count);
  if (refused) log.error(`core refused a ${collector} loss of ${count}: ${refused}`);
}

function reportGap(core: CoreApi, collector: 'process' | 'network', ms: number, log: StderrLogger): void {
  const refused = core.reportGap(collector, ms);
  if (refused) log.error(`core refused a ${collector} gap of ${ms} ms: ${refused}`);
}

/** Sends a core call's messages to the sink and logs each distinct reason the core skipped a record once. */
function deliverer(sink: Sink, log: StderrLogger): Deliver {
  const reasons = new Set<string>();
  return (res, what) => {
    for (const m of res.messages) sink.send(m);
    const reason = `${what}: ${res.reason}`;
    if (res.status === Status.Skipped && reasons.size < 100 && !reasons.has(reason)) {
      reasons.add(reason); // each distinct reason once, so a bad source cannot flood the log
      log.warn(`core skipped a ${what} record: ${res.reason}`);
    }
    return res;
  };
}

/** Baseline checks and system information, each run once per its configured interval. */
class TriggerSchedule {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly agent: Agent, private readonly deliver: Deliver) {}

  /** (Re)starts both: after a configuration change the new windows get their own results. */
  start(): void {
    const { core, clock } = this.agent;
    this.every('systemInformation', () => { this.deliver(core.ingestSysinfo(readSysinfo(clock())), 'system information'); });
    this.every('baseline', () => {
      for (const rec of runChecks(CIS_DEBIAN_CHECKS, clock(), fsContext('/'))) this.deliver(core.ingestBaseline(rec), 'baseline');
    });
  }

  stop(): void { for (const t of this.timers.values()) clearTimeout(t); }

  private every(kind: 'baseline' | 'systemInformation', run: () => void): void {
    clearTimeout(this.timers.get(kind));
    const period = this.agent.settings.periodMs(kind);
    if (period === undefined) return;
    run();
    this.timers.set(kind, setTimeout(() => this.every(kind, run), Math.min(period, MAX_TIMER_MS)));
  }
}

/** Applies a configuration update (twin or SIGHUP) through the core: sends what is pending, then applies. */
function configurator(agent: Agent, deliver: Deliver, schedule: TriggerSchedule): (section: Record<string, unknown>) => ApplyOutcome {
  return (section) => {
    const res = deliver(agent.core.configure(agent.clock(), JSON.stringify(section)), 'configuration');
    if (res.status !== Status.Ok) return { ok: false, reason: res.reason };
    agent.settings.merge(section);
    schedule.start(); // windows restarted: give the new ones their baseline and system information
    return { ok: true };
  };
}

/** Applies the device twin's desired properties through the core (sent-then-applied). */
function followTwin(setup: SinkSetup, apply: (section: Record<string, unknown>) => ApplyOutcome, coreSequence: () => number,
  log: StderrLogger): void {
  const mqtt = setup.mqtt!;
  const twin = new Twin({
    log,
    apply,
    agentVersion: VERSION,
    coreSequence, // 0 for the built-in core, else the installed update's (SPEC R12)
    status: () => ({ outboxQueued: mqtt.outbox.length, outboxDropped: mqtt.outbox.dropped }),
  });
  mqtt.onConnect((s) => void twin.connected(s));
  mqtt.onMessage((topic, payload) => twin.message(topic, payload));
}

export type SourceChoice = 'auto' | 'kernel' | 'poll';

interface Collectors { stop(): void }

/**
 * Starts the process and connection collectors, from kernel events when it can (or when
 * --source says), else by polling; says in one log line which source each uses and why. The
 * first report includes what was already running and open when the agent started: a security
 * agent that starts after an intruder must not miss what the intruder left running.
 */
async function startCollectors(agent: Agent, deliver: Deliver, log: StderrLogger, choice: SourceChoice,
  helperPath?: string): Promise<Collectors | number> {
  const { core, clock, order } = agent;
  // A record from a kernel event carries the event's time: the agent may read it late.
  const processes = new ProcessCollector({ emit: (r) => deliver(core.ingestProcess({ ...r, t: order(r.t) }), 'process'),
    now: clock, ignoreChildrenOf: process.pid, inventory: true, log, mask: (cmd) => log.mask.apply(cmd) });
  const connections = new ConnectionCollector({ emit: (r) => deliver(core.ingestConnection({ ...r, t: order(r.t) }), 'connection'),
    now: clock, inventory: true, log });
  const notAsked = 'not asked for (--source poll)';
  let kernel: KernelSources = { proc: notAsked, exec: notAsked, sock: notAsked, realtime: false, stop() {} };
  const kernelStats = new KernelEventStats();
  if (choice !== 'poll') {
    kernel = await superviseKernelEvents({
      log,
      helperPath,
      // The helper only writes events of the sources it opened.
      onProcess: (e) => processes.fromKernel(e),
      onConnection: (e) => connections.fromKernel(e),
      onLost: (collector, n) => reportLoss(core, collector, n, log),
      onMark: (t) => { agent.kernelMark = t; },
      onDown: () => {
        // No kernel time marks while the helper is down: the agent's clock must not wait for them.
        agent.kernelMark = undefined;
        if (kernel.proc === 'ok') processes.startPolling();
        if (kernel.sock === 'ok') connections.startPolling();
      },
      // Back on kernel events; what polling could not see meanwhile is a gap the messages tell.
      onUp: (downMs) => {
        log.warn(`kernel event helper down ${(downMs / 1000).toFixed(1)} s: events from /proc polling meanwhile; back on kernel events`);
        if (kernel.proc === 'ok') { processes.stop(); reportGap(core, 'process', downMs, log); }
        if (kernel.sock === 'ok') { connections.stopPolling(); reportGap(core, 'network', downMs, log); }
      },
      onStopDown: (downMs) => {
        log.warn(`kernel event helper down for the last ${(downMs / 1000).toFixed(1)} s: events from /proc polling`);
        if (kernel.proc === 'ok') reportGap(core, 'process', downMs, log);
        if (kernel.sock === 'ok') reportGap(core, 'network', downMs, log);
      },
    }, kernelStats);
  }
  const procOk = kernel.proc === 'ok';
  const sockOk = kernel.sock === 'ok';
  if (choice === 'kernel' && (!procOk || !sockOk)) {
    kernel.stop();
    agent.kernelMark = undefined;
    log.error(`--source kernel: ${procOk ? '' : `process connector: ${kernel.proc}`}${!procOk && !sockOk ? '; ' : ''}`
      + `${sockOk ? '' : `socket-destroy notifications: ${kernel.sock}`}`);
    return 1;
  }
  const probeOk = procOk && kernel.exec === 'bpf';
  const processSource = probeOk
    ? "from the kernel: every exec from the exec probe (eBPF, its command line read at the exec), every fork from the process connector"
    : procOk ? `from the kernel's process connector (every fork and exec, read from /proc; exec probe: ${kernel.exec})`
      : `by polling /proc every 50 ms (process connector: ${kernel.proc})`;
  log.info(`sources: processes ${processSource}; `
    + `connections ${sockOk ? "from the kernel's socket-destroy notifications, open ones from /proc/net every second" : `by polling /proc/net (socket-destroy notifications: ${kernel.sock})`}`);
  const denied = /Operation not permitted|Permission denied/.test(kernel.proc + kernel.exec + kernel.sock);
  if (denied || process.geteuid?.() !== 0 || (procOk && !probeOk && !kernel.realtime)) {
    log.warn('running without the privileges the kernel sources need (root, or CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON, '
      + `CAP_SYS_PTRACE and CAP_SYS_NICE): ${denied ? 'processes and connections shorter than a poll can be missed; ' : ''}`
      + "other users' executables cannot be read; a process that exits at once may be reported as exited before it was read");
  }
  processes.start(!procOk);
  connections.start(!sockOk);
  return {
    stop() {
      kernel.stop();
      processes.stop();
      connections.stop();
      connections.flush();
      const lost = kernelStats.summary();
      if (lost) log.warn(`kernel events lost this run, each counted in a message: ${lost}`);
    },
  };
}

/** How often the agent checks that the npm wrapper that started it (npx, npm exec, npm run) is still there. */
const WRAPPER_CHECK_MS = 250;

/**
 * Resolves with what asked the agent to stop: SIGINT, SIGTERM, the abort signal, or the npm
 * wrapper that started it going away (npx's `sh -c` dies of a SIGTERM without passing it on, which
 * would leave the agent running alone); removes its listeners.
 */
function stopRequested(signal?: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    const watch = env.npm_lifecycle_event !== undefined
      ? setInterval(() => { if (process.ppid !== parent) done(`its npm wrapper (pid ${parent}) went away`)(); }, WRAPPER_CHECK_MS)
      : undefined;
    watch?.unref();
    const done = (why: string) => (): void => {
      clearInterval(watch);
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
