// The MQTT outbox kept on disk too, so messages made while the hub is unreachable survive a
// restart or a crash (docs/ARCHITECTURE.md "The disk outbox"). One append-only file in the state
// directory: each message is a checksummed record, appended and synced before send() returns;
// delivered (or dropped) messages are named in "done" records, synced in batches; the file is
// cut to nothing whenever every message is delivered, and compacted (only the waiting messages
// rewritten, then renamed over it) when a write would pass the byte limit. On start the records
// not yet done are sent first, in order; a torn last record and corrupted records are dropped and
// counted, so the next message carries the loss. A disk that refuses a write (full) leaves the
// outbox working in memory until it is empty again.

import { closeSync, constants, fchmodSync, fdatasyncSync, fsyncSync, ftruncateSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from './log.js';
import { Outbox, type OutboxEntry, type OutboxLimits } from './outbox.js';

export const OUTBOX_FILE = 'outbox.log';
/** Holds the pid of the agent using the outbox: two agents on one file would undo each other's records. */
export const OUTBOX_LOCK = 'outbox.lock';
/** The disk outbox's default limit: the file's size in bytes. */
export const DEFAULT_DISK_OUTBOX_BYTES = 16 << 20;

const MAGIC = 0x314f544d; // "MTO1", little-endian
const HEADER = 24; // magic u32, kind u8, 3 zero bytes, id u64, payload length u32, CRC-32 of the 20 bytes before it
const TRAILER = 4; // CRC-32 of the payload
const KIND_JSON = 1;
const KIND_CBOR = 2;
const KIND_DONE = 3; // payload: the ids (u64 each) of messages delivered or dropped

/** The bytes a message takes in the file. */
export const recordSize = (payloadBytes: number): number => HEADER + payloadBytes + TRAILER;

function encode(kind: number, id: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(recordSize(payload.length));
  b.writeUInt32LE(MAGIC, 0);
  b[4] = kind;
  b.writeBigUInt64LE(BigInt(id), 8);
  b.writeUInt32LE(payload.length, 16);
  b.writeUInt32LE(crc32(b.subarray(0, 20)), 20);
  b.set(payload, HEADER);
  b.writeUInt32LE(crc32(payload), HEADER + payload.length);
  return b;
}

function encodeMessage(e: { id: number; text: string | Uint8Array }): Buffer {
  return typeof e.text === 'string' ? encode(KIND_JSON, e.id, Buffer.from(e.text)) : encode(KIND_CBOR, e.id, e.text);
}

function encodeDone(ids: number[]): Buffer {
  const p = Buffer.alloc(ids.length * 8);
  ids.forEach((id, i) => p.writeBigUInt64LE(BigInt(id), i * 8));
  return encode(KIND_DONE, 0, p);
}

/** What a file holds: the messages not yet done (oldest first) and what could not be read. */
export interface OutboxFile {
  waiting: Array<{ id: number; text: string | Uint8Array }>;
  /** The highest message id seen (done or not): new messages continue after it. */
  lastId: number;
  /** Messages named done. */
  done: number;
  /** A last record cut short (a write the process did not finish): its bytes, and whether it could be a message. */
  torn?: { bytes: number; message: boolean };
  /** Records that failed their checksum (a span whose header is unreadable counts as one), their bytes, the messages among them. */
  bad: { records: number; bytes: number; messages: number };
}

function headerAt(buf: Buffer, off: number): { kind: number; id: number; len: number } | undefined {
  if (buf.length - off < HEADER || buf.readUInt32LE(off) !== MAGIC) return undefined;
  if (crc32(buf.subarray(off, off + 20)) !== buf.readUInt32LE(off + 20)) return undefined;
  const kind = buf[off + 4];
  if (kind < KIND_JSON || kind > KIND_DONE) return undefined;
  return { kind, id: Number(buf.readBigUInt64LE(off + 8)), len: buf.readUInt32LE(off + 16) };
}

/** Reads an outbox file's bytes; never throws: what it cannot read is reported in `torn` and `bad`. */
export function readOutboxFile(buf: Buffer): OutboxFile {
  const messages = new Map<number, string | Uint8Array>();
  const done = new Set<number>();
  const bad = { records: 0, bytes: 0, messages: 0 };
  let torn: OutboxFile['torn'];
  let lastId = 0;
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < HEADER) {
      // A header cut short: what it held is unknown unless its kind byte made it.
      torn = { bytes: buf.length - off, message: buf.length - off < 5 || buf[off + 4] !== KIND_DONE };
      break;
    }
    const h = headerAt(buf, off);
    if (!h) {
      // Unreadable header: skip to the next record whose header checks out.
      let next = off + 1;
      while (next < buf.length && !headerAt(buf, next)) next++;
      bad.records++;
      bad.messages++; // at least one message was there (a done record would only cost a duplicate)
      bad.bytes += next - off;
      off = next;
      continue;
    }
    const end = off + recordSize(h.len);
    if (end > buf.length) {
      torn = { bytes: buf.length - off, message: h.kind !== KIND_DONE };
      break;
    }
    const payload = buf.subarray(off + HEADER, off + HEADER + h.len);
    if (crc32(payload) !== buf.readUInt32LE(end - TRAILER)) {
      bad.records++;
      bad.bytes += end - off;
      if (h.kind !== KIND_DONE) bad.messages++;
    } else if (h.kind === KIND_DONE) {
      for (let i = 0; i + 8 <= payload.length; i += 8) done.add(Number(payload.readBigUInt64LE(i)));
    } else {
      messages.set(h.id, h.kind === KIND_JSON ? payload.toString('utf8') : new Uint8Array(payload));
      lastId = Math.max(lastId, h.id);
    }
    off = end;
  }
  for (const id of done) lastId = Math.max(lastId, id);
  const waiting = [...messages].filter(([id]) => !done.has(id)).sort(([a], [b]) => a - b).map(([id, text]) => ({ id, text }));
  return { waiting, lastId, done: done.size, torn, bad };
}

export interface DiskOutboxOptions {
  /** The state directory (created and checked by the caller). */
  dir: string;
  /** maxBytes: the file's size limit; maxMessages: as the memory outbox's. */
  limits: OutboxLimits;
  log: Logger;
  onDrop?: (text: string | Uint8Array) => void;
}

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export class DiskOutbox extends Outbox {
  readonly path: string;
  /** Messages the disk refused (full): kept in memory only, lost if the agent stops before sending them. */
  notOnDisk = 0;
  /** Torn and corrupted records found at start, over the whole run. */
  readonly recovered = { torn: 0, bad: 0 };
  private fd?: number;
  private fileBytes = 0;
  /** Whether new messages go to the disk; false after a write failed, until the outbox is empty. */
  private onDisk = true;
  private readonly memoryOnly = new Set<number>();
  private pendingDone: number[] = [];
  private flushTimer?: NodeJS.Immediate;
  private readonly log: Logger;
  private readonly lockPath: string;
  /** While loading: the losses found, counted only once the file no longer holds them. */
  private deferred?: Array<{ text: string | Uint8Array; bytes: number }>;

  constructor(private readonly opts: DiskOutboxOptions) {
    super(opts.limits, opts.onDrop);
    this.log = opts.log;
    this.path = join(opts.dir, OUTBOX_FILE);
    this.lockPath = join(opts.dir, OUTBOX_LOCK);
    this.lock();
    try {
      this.load();
    } catch (e) {
      rmSync(this.lockPath, { force: true });
      throw e;
    }
  }

  /** Takes the lock file, or throws naming the live agent that holds it (a dead one's is taken over). */
  private lock(): void {
    for (let tries = 0; tries < 3; tries++) {
      try {
        const fd = openSync(this.lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try { writeSync(fd, `${[process.pid, processStamp(process.pid)].filter(Boolean).join(' ')}\n`); } finally { closeSync(fd); }
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`outbox ${this.path}: cannot lock it: ${errCode(e)}`);
      }
      let held: string;
      try { held = readFileSync(this.lockPath, 'utf8'); } catch { continue; /* gone meanwhile */ }
      const [pidText, ...stamp] = held.trim().split(/\s+/);
      const pid = Number.parseInt(pidText, 10);
      // A pid alone may name another process after a reboot (pids start over): the boot and start time must match too.
      const same = stamp.length === 0 || stamp.join(' ') === processStamp(pid);
      if (pid > 0 && pid !== process.pid && alive(pid) && same) throw new Error(`outbox ${this.path}: in use by another agent (pid ${pid}, ${this.lockPath})`);
      // Its agent is gone (killed): taken over. Moved aside rather than removed, so that a lock another
      // agent took over meanwhile (it judged the same dead pid) is seen and put back, not deleted.
      const aside = `${this.lockPath}.${process.pid}`;
      try { renameSync(this.lockPath, aside); } catch { continue; }
      let moved = '';
      try { moved = readFileSync(aside, 'utf8'); } catch { /* as good as gone */ }
      if (moved !== held) { try { linkSync(aside, this.lockPath); } catch { /* a third agent's is there: it holds it */ } }
      rmSync(aside, { force: true });
    }
    throw new Error(`outbox ${this.path}: cannot lock it: ${this.lockPath} keeps coming back`);
  }

  override get description(): string { return this.path; }

  /** Messages kept in the file (the rest, after a full disk, only in memory). */
  get durable(): number { return this.length - this.memoryOnly.size; }

  override close(): number {
    clearImmediate(this.flushTimer);
    this.flushDone();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.lockPath, { force: true });
    const kept = this.durable;
    if (kept > 0) this.log.info(`outbox ${this.path}: ${kept} message(s) kept for the next start`);
    if (this.memoryOnly.size > 0) this.log.error(`outbox ${this.path}: ${this.memoryOnly.size} message(s) held only in memory (the disk refused them) are lost`);
    return kept;
  }

  private load(): void {
    const { log, path } = this;
    // A compaction the last agent did not finish: outbox.log still holds everything; the copy goes.
    rmSync(`${path}.tmp`, { force: true });
    let buf: Buffer;
    try {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW); // not a link planted in its place
      try { buf = readFileSync(fd); } finally { closeSync(fd); }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`outbox ${path}: cannot read it: ${errCode(e)}`);
      buf = Buffer.alloc(0);
    }
    const file = readOutboxFile(buf);
    this.nextId = file.lastId + 1;
    // Losses are counted once the rewrite has taken them out of the file: a start that cannot
    // rewrite it leaves them there, and the next start would count them again.
    this.deferred = [];
    const notes: string[] = [];
    if (file.torn) {
      notes.push(`torn last record (${file.torn.bytes} bytes, a write the agent did not finish) dropped${file.torn.message ? ', counted as 1 message lost' : ''}`);
      if (file.torn.message) this.count('', file.torn.bytes);
    }
    if (file.bad.records > 0) {
      notes.push(`${file.bad.records} corrupted record(s) (${file.bad.bytes} bytes) skipped, ${file.bad.messages} counted as messages lost; ${file.waiting.length} good message(s) kept`);
      for (let i = 0; i < file.bad.messages; i++) this.count('', 0);
    }
    this.restore(file.waiting);
    while ((this.bytes > this.limits.maxBytes || this.length > this.limits.maxMessages) && this.dropOldest()) { /* counted */ }
    // Rewritten at once: what was done, torn or corrupted is gone, and never counted twice.
    this.fileBytes = buf.length;
    try {
      if (buf.length > 0 || this.length > 0) this.rewrite();
      else this.openFile();
    } catch (e) {
      const lost = this.deferred.length;
      this.deferred = undefined;
      throw new Error(`${(e as Error).message} (left as it was: its ${file.waiting.length} message(s)${lost > 0 ? ` and ${lost} lost, counted then,` : ''} wait for the next start)`);
    }
    const losses = this.deferred;
    this.deferred = undefined;
    if (file.torn) this.recovered.torn++;
    this.recovered.bad += file.bad.records;
    for (const n of notes) log.warn(`outbox ${path}: ${n}`);
    for (const l of losses) super.count(l.text, l.bytes);
    if (this.length > 0) log.info(`outbox ${path}: ${this.length} message(s) (${this.bytes} bytes) from before the restart, sent first`);
  }

  /** Counts a loss, or while loading keeps it until the file no longer holds it. */
  protected override count(text: string | Uint8Array, bytes: number): void {
    if (this.deferred) this.deferred.push({ text, bytes });
    else super.count(text, bytes);
  }

  private openFile(): void {
    try {
      this.fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      fchmodSync(this.fd, 0o600); // a file already there keeps its mode otherwise
      this.fileBytes = 0;
      ftruncateSync(this.fd, 0);
      syncDir(dirname(this.path)); // the file's name is durable too, before a message is said to be
    } catch (e) {
      throw new Error(`outbox ${this.path}: cannot open it: ${errCode(e)}`);
    }
  }

  /** A message whose record alone passes the file's limit is refused (counted), as the memory outbox refuses one over its own. */
  override push(text: string | Uint8Array): number {
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    if (recordSize(bytes) > this.limits.maxBytes) {
      this.count(text, bytes);
      return 1;
    }
    return super.push(text);
  }

  protected override stored(entry: OutboxEntry): number {
    if (!this.onDisk || this.fd === undefined) { this.keepInMemory(entry); return 0; }
    const rec = encodeMessage(entry);
    if (this.fileBytes + rec.length > this.limits.maxBytes) return this.compact(entry);
    this.append(rec, entry);
    return 0;
  }

  protected override removed(entry: OutboxEntry, _why: 'ack' | 'drop'): void {
    if (this.memoryOnly.delete(entry.id)) { /* never on disk */ } else this.pendingDone.push(entry.id);
    if (this.length === 0) { this.empty(); return; }
    // Batched: the PUBACKs of one read come in one turn, and share one write and one sync.
    this.flushTimer ??= setImmediate(() => { this.flushTimer = undefined; this.flushDone(); });
  }

  /** Every message delivered or dropped: the file is cut to nothing, and a full disk may have room again. */
  private empty(): void {
    clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.pendingDone = [];
    if (this.fd === undefined) return;
    try {
      ftruncateSync(this.fd, 0);
      fdatasyncSync(this.fd);
      this.fileBytes = 0;
    } catch (e) {
      this.log.warn(`outbox ${this.path}: cannot empty it: ${errCode(e)}`);
      return;
    }
    if (!this.onDisk) {
      this.onDisk = true;
      this.log.info(`outbox ${this.path}: writing to the disk again (${this.notOnDisk} message(s) so far were kept in memory only)`);
    }
  }

  private flushDone(): void {
    if (this.pendingDone.length === 0 || this.fd === undefined) return;
    const rec = encodeDone(this.pendingDone);
    this.pendingDone = [];
    if (this.fileBytes + rec.length > this.limits.maxBytes) { this.compact(); return; }
    try {
      this.write(rec);
    } catch {
      // Not written: those messages may be sent once more after a restart (the duplicate window), never lost.
    }
  }

  /** Writes at the end of the file and syncs; on failure cuts back what was partly written and throws. */
  private write(rec: Buffer): void {
    const fd = this.fd!;
    try {
      for (let done = 0; done < rec.length;) done += writeSync(fd, rec, done, rec.length - done, this.fileBytes + done);
      fdatasyncSync(fd);
    } catch (e) {
      try { ftruncateSync(fd, this.fileBytes); } catch { /* the next start drops a torn tail */ }
      throw e;
    }
    this.fileBytes += rec.length;
  }

  private append(rec: Buffer, entry: OutboxEntry): void {
    try {
      this.write(rec);
    } catch (e) {
      this.diskRefused(e, entry);
    }
  }

  private keepInMemory(entry: OutboxEntry): void {
    this.memoryOnly.add(entry.id);
    this.notOnDisk++;
  }

  private diskRefused(e: unknown, entry?: OutboxEntry): void {
    if (entry) this.keepInMemory(entry);
    if (!this.onDisk) return;
    this.onDisk = false;
    this.log.warn(`outbox ${this.path}: ${errCode(e)}: keeping new messages in memory until the outbox is empty (lost if the agent stops before they are sent; counted)`);
  }

  private liveFileBytes(): number {
    let n = 0;
    for (const e of this.entries) if (!this.memoryOnly.has(e.id)) n += recordSize(e.bytes);
    return n;
  }

  /**
   * The file is full: rewrites it with only the waiting messages (`entry` among them). When they
   * take more than 7/8 of the limit, the oldest are dropped (each counted) down to that, so a long
   * outage does not rewrite the file for every new message. Returns how many were dropped.
   */
  private compact(entry?: OutboxEntry): number {
    const target = this.limits.maxBytes - (this.limits.maxBytes >> 3);
    let dropped = 0;
    for (let live = this.liveFileBytes(); live > target && this.entries.length > 1; dropped++) {
      const oldest = this.entries.find((e) => !e.inFlight);
      if (!oldest) break;
      if (!this.memoryOnly.has(oldest.id)) live -= recordSize(oldest.bytes);
      this.dropOldest();
    }
    // Dropping may have emptied the file already (the new message was the one dropped).
    if (entry && !this.entries.includes(entry)) return dropped;
    this.rewrite(entry);
    return dropped;
  }

  /** Writes the waiting messages to a new file, syncs it and renames it over the old one. */
  private rewrite(entry?: OutboxEntry): void {
    const tmp = `${this.path}.tmp`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      fchmodSync(fd, 0o600); // a leftover temporary file keeps its mode otherwise, and passes it on by the rename
      let at = 0;
      for (const e of this.entries) {
        if (this.memoryOnly.has(e.id)) continue;
        const rec = encodeMessage(e);
        for (let done = 0; done < rec.length;) done += writeSync(fd, rec, done, rec.length - done, at + done);
        at += rec.length;
      }
      fdatasyncSync(fd);
      renameSync(tmp, this.path);
      syncDir(dirname(this.path));
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = fd;
      this.fileBytes = at;
      this.pendingDone = [];
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
      if (this.fd === undefined) throw new Error(`outbox ${this.path}: cannot write it: ${errCode(e)}`);
      // The old file still holds every waiting message but the new one.
      this.diskRefused(e, entry);
    }
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** This boot's id and the process's start time (clock ticks since boot): with the pid, one process ever. */
function processStamp(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22; the name before it may hold spaces
    return start ? `${boot} ${start}` : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // there, but another user's
  }
}
