// A pending input (one that must wait for the windows it closes to be sent) keeps what it
// needs out of the input area: the host may overwrite the area while it drains (docs/ABI.md).
// Strings are decoded in place in the line, so this also covers escapes in every field.
import { describe, expect, it } from 'vitest';
import { Core, blobPath, type Message } from '../host/core.js';
import { readFileSync } from 'node:fs';
import { jsonTexts } from './helpers.js';

const T0 = Date.UTC(2026, 6, 1);
const LATER = T0 + 3_600_000; // past every window: the input waits for the sends

interface X {
  memory: WebAssembly.Memory;
  mt_init(): number; mt_input_ptr(): number; mt_input_capacity(): number; mt_output_ptr(): number;
  mt_ingest_line(n: number): number; mt_next_chunk(): number; mt_chunk_ends_message(): number; mt_finish(): number;
}

/** Replays lines through the raw ABI; with `clobber`, fills the input area with junk before each drain. */
function run(profile: 'rtos' | 'linux', lines: string[], clobber: boolean): string {
  const x = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(blobPath(profile))), {}).exports as unknown as X;
  x.mt_init();
  const mem = () => new Uint8Array(x.memory.buffer);
  let out = '';
  const drain = () => {
    if (clobber) mem().fill(0x5c, x.mt_input_ptr(), x.mt_input_ptr() + x.mt_input_capacity());
    for (let n = x.mt_next_chunk(); n > 0; n = x.mt_next_chunk()) {
      out += Buffer.from(mem().subarray(x.mt_output_ptr(), x.mt_output_ptr() + n)).toString('utf8');
      if (x.mt_chunk_ends_message()) out += '\n';
    }
  };
  for (const l of lines) {
    const b = Buffer.from(l);
    mem().set(b, x.mt_input_ptr());
    expect(x.mt_ingest_line(b.length)).toBe(0);
    drain();
  }
  x.mt_finish();
  drain();
  return out;
}

const esc = 'q\\"uote \\\\ tab\\t nl\\n \\u00e9\\u20ac\\ud83d\\ude00 \\ud800 end';
const lines = [
  JSON.stringify({ kind: 'connection', t: T0, proto: 'tcp', dir: 'out', local: '10.0.0.2', lport: 1, remote: '10.0.0.3', rport: 2, bytesIn: 1, bytesOut: 1 }),
  `{"kind":"baseline","t":${LATER},"id":"id-${esc}","group":"g${esc}","result":"fail","severity":"warning","description":"d${esc}${'x'.repeat(200)}","remediation":"r${esc}","error":"e${esc}"}`,
  `{"kind":"sysinfo","t":${LATER + 3_600_000},"os":"os${esc}","osVersion":"1${esc}","kernel":"k${esc}","hw":"h${esc}","memTotal":1}`,
  `{"kind":"connection","t":${LATER + 7_200_000},"proto":"udp","dir":"in","local":"::1","lport":5,"remote":"::2","rport":6,"bytesIn":1,"bytesOut":1,"app":"a${esc}","host":"h${esc}"}`,
  `{"kind":"process","t":${LATER + 10_800_000},"pid":1,"ppid":0,"uid":0,"type":"exec","cmd":"c${esc}","exe":"e${esc}","user":"u${esc}"}`,
  `{"kind":"config","t":${LATER + 14_400_000},"config":{"baseline":{"disabledGroups":["g${esc}"],"disabledChecks":["x\\u0041"]}}}`,
  `{"kind":"baseline","t":${LATER + 14_400_001},"id":"xA","group":"h","result":"fail","severity":"warning","description":"d","remediation":"r"}`,
  `{"kind":"baseline","t":${LATER + 14_400_002},"id":"y","group":"g${esc}","result":"fail","severity":"warning","description":"d","remediation":"r"}`,
];

describe('a pending input does not depend on the input area', () => {
  for (const profile of ['rtos', 'linux'] as const) {
    it(`${profile}: lines with escapes in every string give the same messages when the area is overwritten while they wait`, () => {
      const clean = run(profile, lines, false);
      // The decoded text up to the lone surrogate (which becomes U+FFFD), as JSON.
      const decoded = (s: string) => JSON.stringify(s + JSON.parse(`"${esc}"`).split('\ud800')[0]).slice(0, -1);
      expect(clean).toContain(`"Remediation":${decoded('r')}\ufffd end"`);
      expect(clean).toContain(`"CheckId":${decoded('id-')}`);
      expect(run(profile, lines, true)).toBe(clean);
    });
  }

  it('typed baseline and sysinfo records waiting behind a send keep their strings', () => {
    const records = (clobber: boolean) => {
      const core = new Core('rtos');
      const x = (core as any).x as X;
      const wipe = () => { if (clobber) new Uint8Array(x.memory.buffer).fill(0xff, x.mt_input_ptr(), x.mt_input_ptr() + 512); };
      const msgs: Message[] = [];
      msgs.push(...core.ingestConnection({ t: T0, proto: 'tcp', dir: 'out', local: new Uint8Array([1, 2, 3, 4]), remote: new Uint8Array([5, 6, 7, 8]), lport: 1, rport: 2, bytesIn: 1, bytesOut: 1 }).messages);
      // Core drains inside each call; overwrite the area between the ingest and the drain.
      const drain = (core as any).drain.bind(core);
      (core as any).drain = (out: Message[]) => { wipe(); drain(out); };
      msgs.push(...core.ingestBaseline({ t: LATER, id: 'check-é', group: 'grp', result: 'fail', severity: 'critical', description: 'desc ✓', remediation: 'fix', error: 'err' }).messages);
      msgs.push(...core.ingestSysinfo({ t: LATER + 3_600_000, os: 'ThreadX', osVersion: '6.4', kernel: 'cortex_m3', hw: 'mps2', memTotal: 4096 }).messages);
      msgs.push(...core.finish().messages);
      return jsonTexts(msgs);
    };
    const clean = records(false);
    expect(clean.join('\n')).toContain('"CheckId":"check-é"');
    expect(clean.join('\n')).toContain('"OSName":"ThreadX"');
    expect(records(true)).toEqual(clean);
  });
});
