// The device's peers inside the network namespace scripts/test-azure-iot.sh creates: a UDP and
// a TCP echo server (known bytes back to the device) and a DNS resolver that answers A queries
// for the names it is given (NXDOMAIN for every other name). Prints `ready` once listening.
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

let pending = 3;
const listening = () => { if (--pending === 0) console.log('ready'); };

const dns = dgram.createSocket('udp4');
dns.on('message', (msg, rinfo) => {
  const answer = dnsAnswer(msg);
  if (answer) dns.send(answer, rinfo.port, rinfo.address);
});
dns.bind(53, address, listening);

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
udp.bind(UDP_ECHO_PORT, address, listening);

net.createServer((socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
}).listen(TCP_ECHO_PORT, address, listening);
