// Pure parsing of what the live collectors read: small fixtures written for these tests.

import { describe, expect, it } from 'vitest';
import { parseCmdline, parseStat, parseStatusUid } from '../../host/agent/collectors/processes.js';
import {
  direction, Listeners, parseHexAddress, parsePortRange, parseProcNet, parseSsInfo, TCP_ESTABLISHED, TCP_LISTEN, tcpActivity,
} from '../../host/agent/collectors/connections.js';
import { parseMemTotal, parseOsRelease } from '../../host/agent/collectors/sysinfo.js';
import { parsePasswd } from '../../host/agent/collectors/users.js';
import { iotHubClientId, iotHubUsername, parseConnectionString, sasToken, SasTokenSource } from '../../host/agent/sas.js';
import { deriveGroupKey, dpsSasToken } from '../../host/agent/iothub/dps.js';
import { telemetryTopic } from '../../host/agent/sinks/mqtt.js';

const ip = (a: Uint8Array): string => Array.from(a).join('.');

describe('/proc/<pid> files', () => {
  it('parses stat, with a command name holding spaces and parentheses', () => {
    const s = parseStat('1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5555 1000000 200\n');
    expect(s).toEqual({ pid: 1234, comm: 'my (odd) name', state: 'S', ppid: 1, flags: 4194560, startTime: 5555 });
  });

  it('marks kernel threads through PF_KTHREAD in the flags', () => {
    const s = parseStat('2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0');
    expect(s!.flags & 0x00200000).not.toBe(0);
  });

  it('rejects a truncated stat line', () => {
    expect(parseStat('77 (x) S 1 2')).toBeUndefined();
    expect(parseStat('garbage')).toBeUndefined();
  });

  it('takes the real uid from status', () => {
    expect(parseStatusUid('Name:\tsleep\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n')).toBe(1000);
    expect(parseStatusUid('Name:\tx\n')).toBeUndefined();
  });

  it('joins the NUL-separated command line', () => {
    expect(parseCmdline(Buffer.from('sleep\x000.5\x00'))).toBe('sleep 0.5');
    expect(parseCmdline('')).toBe('');
  });
});

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:AA8F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8760 1 00000000db30e0f4 100 0 0 10 0
   1: 0100007F:AA8F 0100007F:8F70 01 00000000:00000000 00:00000000 00000000  1000        0 8762 1 000000002a896e3d 20 4 31 11 -1
   2: 0100007F:8F70 0100007F:AA8F 01 00000000:00000000 00:00000000 00000000     0        0 8761 1 0000000002fc50bf 20 4 30 11 -1
   3: 0100007F:8F71 0100007F:AA8F 06 00000000:00000000 03:00000F3D 00000000     0        0 0 3 0000000000000000
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 300 1 0 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 301 1 0 20 4 30 10 -1
   2: 00000000000000000000000001000000:C350 00000000000000000000000001000000:0035 02 00000000:00000000 00:00000000 00000000     0        0 302 1 0 20 4 30 10 -1
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 400 2 0 0
  101: 0100007F:E0F0 0200A8C0:0035 01 00000000:00000000 00:00000000 00000000     0        0 401 2 0 0
  102: 00000000:EA60 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 402 2 0 0
`;

describe('/proc/net sockets', () => {
  it('reads IPv4 and IPv6 addresses in host byte order', () => {
    expect(ip(parseHexAddress('0100007F', true))).toBe('127.0.0.1');
    expect(ip(parseHexAddress('7F000001', false))).toBe('127.0.0.1');
    expect(Array.from(parseHexAddress('00000000000000000000000001000000', true))).toEqual([...Array(15).fill(0), 1]);
    const mapped = parseHexAddress('0000000000000000FFFF00000100007F', true);
    expect(Array.from(mapped)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
  });

  it('parses every socket line with ports, state, uid and inode', () => {
    const s = parseProcNet(TCP, 'tcp', true);
    expect(s).toHaveLength(4);
    expect(s[0]).toMatchObject({ proto: 'tcp', lport: 0xaa8f, rport: 0, state: TCP_LISTEN, inode: 8760 });
    expect(s[1]).toMatchObject({ lport: 43663, rport: 36720, state: TCP_ESTABLISHED, uid: 1000, inode: 8762 });
    expect(ip(s[1].remote)).toBe('127.0.0.1');
    expect(s[3].inode).toBe(0); // TIME_WAIT: no socket behind it any more
    expect(parseProcNet('header\n  0: nonsense\n', 'tcp')).toEqual([]);
  });

  it('tells accepted connections from ones this host opened', () => {
    const all = [...parseProcNet(TCP, 'tcp', true), ...parseProcNet(TCP6, 'tcp', true), ...parseProcNet(UDP, 'udp', true)];
    const listeners = new Listeners(all);
    const eph: [number, number] = [32768, 60999];
    const byInode = (n: number) => all.find((s) => s.inode === n)!;
    expect(direction(byInode(8762), listeners, eph)).toBe('in'); // local port 43663 listens on 127.0.0.1
    expect(direction(byInode(8761), listeners, eph)).toBe('out');
    expect(direction(byInode(301), listeners, eph)).toBe('in'); // IPv4 on the dual-stack listener :::8080
    expect(direction(byInode(302), listeners, eph)).toBe('out'); // SYN_SENT
    expect(direction(byInode(400), listeners, eph)).toBe('in'); // UDP bound to 53, unconnected
    expect(direction(byInode(401), listeners, eph)).toBe('out'); // connected UDP
    expect(direction(byInode(402), listeners, eph)).toBe('out'); // unconnected, ephemeral port
  });

  it('reads byte counts from ss, less retransmissions', () => {
    const ss = [
      'ESTAB 0 0 127.0.0.1:43663 127.0.0.1:36720 ino:8762 sk:1 cgroup:/ <-> ts sack cubic bytes_sent:1100 bytes_retrans:100 bytes_acked:1001 bytes_received:37 segs_out:2',
      'ESTAB 0 0 [::1]:59704 [::1]:38079 ino:11387 sk:6 <-> ts bytes_acked:1 segs_out:1',
      'garbage line',
    ].join('\n');
    const m = parseSsInfo(ss);
    expect(m.get(8762)).toEqual({ bytesIn: 37, bytesOut: 1000 });
    expect(m.get(11387)).toEqual({ bytesIn: 0, bytesOut: 0 });
    expect(m.size).toBe(2);
  });

  it('summarises TCP activity from /proc/net/snmp', () => {
    const snmp = (active: number, estab: number) => [
      'Ip: Forwarding DefaultTTL', 'Ip: 1 64',
      'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs',
      `Tcp: 1 200 120000 -1 ${active} 588 821 141 ${estab} 26830 18025`,
      'Udp: InDatagrams NoPorts', 'Udp: 5 6', '',
    ].join('\n');
    expect(tcpActivity(snmp(1477, 0))).toBe('1477 588 821 141 0');
    expect(tcpActivity(snmp(1478, 0))).not.toBe(tcpActivity(snmp(1477, 0)));
    expect(tcpActivity(snmp(1477, 1))).not.toBe(tcpActivity(snmp(1477, 0)));
    expect(tcpActivity('Ip: x\nIp: 1\n')).toBeUndefined();
  });

  it('reads the ephemeral port range', () => {
    expect(parsePortRange('32768\t60999\n')).toEqual([32768, 60999]);
    expect(parsePortRange('junk')).toEqual([32768, 60999]);
  });
});

describe('system files', () => {
  it('parses os-release with quoted and unquoted values', () => {
    const r = parseOsRelease('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n# comment\n');
    expect(r).toMatchObject({ NAME: 'Debian GNU/Linux', VERSION_ID: '12', VERSION: '12 (bookworm)', ID: 'debian' });
  });

  it('reads MemTotal in bytes', () => {
    expect(parseMemTotal('MemTotal:       24684096 kB\nMemFree: 1 kB\n')).toBe(24684096 * 1024);
    expect(parseMemTotal('')).toBeUndefined();
  });

  it('parses passwd entries', () => {
    const e = parsePasswd('root:x:0:0:root:/root:/bin/bash\n# c\nbad line\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n');
    expect(e.map((x) => [x.name, x.uid])).toEqual([['root', 0], ['alice', 1000]]);
  });
});

describe('IoT Hub credentials', () => {
  const key = 'bWljcm90YWxseS10ZXN0LWtleS0wMTIzNDU2Nzg5YWI=';
  const cs = `HostName=hub.example.net;DeviceId=dev-1;SharedAccessKey=${key}`;
  // Computed independently with Python's hmac, hashlib and urllib.parse.quote(safe='').
  const MODULE_SIG = 'ycnEcsfxTM3MKhy7w2eN3IwSbLTz9kah2FsUCpubOlI%3D';
  const DERIVED = '3N/EtFb6X121vghVx2s5f2m0lTiCp23+Yksmv0OfssA=';
  const DPS_SIG = 'OS2YlDbOrCxS45NZ5FGd6%2B%2Bdlkndjzg0VfrQ7jADIaQ%3D';

  it('parses a device connection string', () => {
    expect(parseConnectionString(cs)).toEqual({ hostName: 'hub.example.net', deviceId: 'dev-1', sharedAccessKey: key });
    expect(() => parseConnectionString('HostName=h;SharedAccessKey=abcd')).toThrow(/DeviceId is missing/);
    expect(parseConnectionString('HostName=h;DeviceId=d;x509=true')).toEqual({ hostName: 'h', deviceId: 'd', x509: true });
    expect(() => parseConnectionString(`HostName=h;DeviceId=d;x509=true;SharedAccessKey=${key}`)).toThrow(/not both/);
    expect(() => parseConnectionString('HostName=h;DeviceId=d;x509=false')).toThrow(/x509 must be true/);
    expect(parseConnectionString(`HostName=hub.example.net;DeviceId=gw;ModuleId=mt;GatewayHostName=edge.local;SharedAccessKey=${key}`)).toEqual({
      hostName: 'hub.example.net', deviceId: 'gw', moduleId: 'mt', gatewayHostName: 'edge.local', sharedAccessKey: key });
  });

  it('a module identity: client id device/module, its user name and SAS resource (vector from Python hmac)', () => {
    const m = parseConnectionString(`HostName=hub.example.net;DeviceId=dev-1;ModuleId=mt;SharedAccessKey=${key}`);
    expect(iotHubClientId(m)).toBe('dev-1/mt');
    expect(iotHubUsername(m)).toBe('hub.example.net/dev-1/mt/?api-version=2021-04-12');
    expect(sasToken(m, 1767225600)).toBe(`SharedAccessSignature sr=hub.example.net%2Fdevices%2Fdev-1%2Fmodules%2Fmt&sig=${MODULE_SIG}&se=1767225600`);
  });

  it('DPS: a group enrollment\'s derived device key and the registration SAS token (vectors from Python hmac)', () => {
    expect(deriveGroupKey(key, 'dev-1')).toBe(DERIVED);
    expect(dpsSasToken('0ne00ABCDEF', 'dev-1', DERIVED, 1767225600)).toBe(
      `SharedAccessSignature sr=0ne00ABCDEF%2Fregistrations%2Fdev-1&sig=${DPS_SIG}&se=1767225600&skn=registration`);
  });

  it('never echoes the key in a parse error', () => {
    try {
      parseConnectionString(`HostName=h;SharedAccessKey=${key}`);
    } catch (e) {
      expect((e as Error).message).not.toContain(key);
    }
  });

  it('builds the IoT Hub user name', () => {
    expect(iotHubUsername(parseConnectionString(cs))).toBe('hub.example.net/dev-1/?api-version=2021-04-12');
  });

  it('signs a SAS token (vector computed independently with Python hmac)', () => {
    expect(sasToken(parseConnectionString(cs), 1767225600)).toBe(
      'SharedAccessSignature sr=hub.example.net%2Fdevices%2Fdev-1&sig=q8VoFkz4pFG2efZ3NQ0d74UnHW2Oih0v7SJ%2BknxmUDA%3D&se=1767225600',
    );
  });

  it('renews the token before it expires', () => {
    let now = 1_000_000_000_000;
    const src = new SasTokenSource(parseConnectionString(cs), 3600_000, 300_000, () => now);
    const first = src.current();
    expect(first).toContain(`se=${(now + 3600_000) / 1000}`);
    expect(src.renewAt()).toBe(now + 3300_000);
    now += 3299_000;
    expect(src.current()).toBe(first);
    now += 1000;
    expect(src.current()).not.toBe(first);
  });
});

describe('topic', () => {
  it('puts the security message properties, URL-encoded, in the telemetry topic', () => {
    const topic = telemetryTopic('dev-1');
    expect(topic).toBe('devices/dev-1/messages/events/%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1&%24.ct=application%2Fjson&%24.ce=utf-8');
    const props = Object.fromEntries(new URLSearchParams(topic.slice('devices/dev-1/messages/events/'.length)));
    expect(props).toEqual({ '$.ifid': 'urn:azureiot:Security:SecurityAgent:1', '$.ct': 'application/json', '$.ce': 'utf-8' });
  });
});
