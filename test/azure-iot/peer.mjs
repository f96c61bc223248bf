// The device's peers inside the network namespace scripts/test-azure-iot.sh creates: a UDP and
// a TCP echo server (known bytes back to the device), a DNS resolver that answers A queries
// for the names it is given (NXDOMAIN for every other name) and an SNTP server giving this
// host's time. Prints `ready` once listening, then one line per DNS and SNTP request served.
// Why our own DNS and SNTP servers, not dnsmasq and chrony: a dozen lines each of dgram, no
// daemon to install, configure and stop, answers only for the test's names, and each request
// logged for the test to count; the device's clients are NetX Duo's, the part under test.
//   node test/azure-iot/peer.mjs <address> <name=ipv4>...
import dgram from 'node:dgram';
import net from 'node:net';

const [address, ...pairs] = process.argv.slice(2);
if (!address || pairs.length === 0) {
  console.error('usage: peer.mjs <address> <name=ipv4>...');
  process.exit(2);
}
const names = new Map(pairs.map((p) => { const [n, a] = p.split('='); return [n.toLowerCase(), a]; }));
export const UDP_ECHO_PORT = 7000;
export const TCP_ECHO_PORT = 7001;

// One DNS answer: the question echoed, then an A record (TTL 60) when the name is known.
function dnsAnswer(query) {
  if (query.length < 12) return null;
  let offset = 12;
  const labels = [];
  while (offset < query.length && query[offset] !== 0) {
    const n = query[offset];
    if (n > 63 || offset + 1 + n > query.length) return null;
    labels.push(query.subarray(offset + 1, offset + 1 + n).toString('latin1'));
    offset += 1 + n;
  }
  if (offset + 5 > query.length) return null;
  const qtype = query.readUInt16BE(offset + 1);
  const question = query.subarray(12, offset + 5);
  const ip = names.get(labels.join('.').toLowerCase());
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  const rd = query[2] & 0x01;
  header[2] = 0x84 | rd; // response, authoritative, recursion desired echoed
  header[3] = ip ? 0x00 : 0x03; // NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  const answers = [];
  if (ip && qtype === 1) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((b, i) => { rr[12 + i] = Number(b); });
    answers.push(rr);
  }
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

let pending = 4;
const listening = () => { if (--pending === 0) console.log('ready'); };

const dns = dgram.createSocket('udp4');
dns.on('message', (msg, rinfo) => {
  const answer = dnsAnswer(msg);
  if (answer) dns.send(answer, rinfo.port, rinfo.address);
  console.log(`dns ${rinfo.address}:${rinfo.port} ${msg.length} -> ${answer ? answer.length : 0}`);
});
dns.bind(53, address, listening);

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.bind(UDP_ECHO_PORT, address, listening);

net.createServer((socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
}).listen(TCP_ECHO_PORT, address, listening);

// SNTP (RFC 4330) unicast: mode 4, stratum 1, the request's version, its transmit time as our
// originate time, receive and transmit times from this host's clock (transmit 1 ms later: NetX
// Duo's client refuses a transmit time not after the receive time).
const NTP_UNIX_OFFSET = 2208988800;
function ntpTime(buffer, offset, ms) {
  const seconds = Math.floor(ms / 1000);
  buffer.writeUInt32BE(seconds + NTP_UNIX_OFFSET, offset);
  buffer.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32), offset + 4);
}
const sntp = dgram.createSocket('udp4');
sntp.on('message', (msg, rinfo) => {
  if (msg.length < 48 || (msg[0] & 0x07) !== 3) return; // client requests only
  const now = Date.now();
  const reply = Buffer.alloc(48);
  reply[0] = (msg[0] & 0x38) | 0x04; // LI 0, the client's version, mode 4 (server)
  reply[1] = 1; // stratum 1
  reply[2] = msg[2];
  reply[3] = 0xec; // precision 2^-20
  reply.writeUInt32BE(0x10, 8); // root dispersion: 1/4096 s
  reply.write('MTST', 12, 'latin1');
  ntpTime(reply, 16, now);
  msg.copy(reply, 24, 40, 48);
  ntpTime(reply, 32, now);
  ntpTime(reply, 40, now + 1);
  sntp.send(reply, rinfo.port, rinfo.address);
  console.log(`sntp ${rinfo.address}:${rinfo.port} ${msg.length} -> ${reply.length}`);
});
sntp.bind(123, address, listening);
