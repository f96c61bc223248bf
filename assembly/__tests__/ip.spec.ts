import { bytesOf, ptr, textAt } from "./helpers";
import { parseIPv4, parseIPv6, formatIP } from "../ip";

const addr = new ArrayBuffer(16);
const text = new ArrayBuffer(64);

function v6(s: string): string {
  const b = bytesOf(s);
  const ok = parseIPv6(ptr(b), b.byteLength, ptr(addr));
  if (!ok) return "invalid";
  return textAt(ptr(text), formatIP(ptr(addr), true, ptr(text)));
}

function v4(s: string): string {
  const b = bytesOf(s);
  if (!parseIPv4(ptr(b), b.byteLength, ptr(addr))) return "invalid";
  return textAt(ptr(text), formatIP(ptr(addr), false, ptr(text)));
}

describe("IPv4", () => {
  it("parses and prints dotted quads", () => {
    expect(v4("0.0.0.0")).toBe("0.0.0.0");
    expect(v4("255.255.255.255")).toBe("255.255.255.255");
    expect(v4("10.20.30.40")).toBe("10.20.30.40");
  });
  it("rejects malformed quads", () => {
    expect(v4("256.0.0.1")).toBe("invalid");
    expect(v4("1.2.3")).toBe("invalid");
    expect(v4("1.2.3.4.5")).toBe("invalid");
    expect(v4("01.2.3.4")).toBe("invalid");
    expect(v4("1..3.4")).toBe("invalid");
    expect(v4("1.2.3.4 ")).toBe("invalid");
    expect(v4("")).toBe("invalid");
  });
});

describe("IPv6 (RFC 5952 output)", () => {
  it("compresses the longest run of zero groups, the first on a tie", () => {
    expect(v6("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(v6("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(v6("2001:0:0:1:0:0:0:1")).toBe("2001:0:0:1::1");
    expect(v6("::")).toBe("::");
    expect(v6("::1")).toBe("::1");
    expect(v6("1::")).toBe("1::");
    expect(v6("1:0:1:1:1:1:1:1")).toBe("1:0:1:1:1:1:1:1");
    expect(v6("FE80::ABCD")).toBe("fe80::abcd");
  });
  it("prints IPv4-mapped addresses with a dotted quad", () => {
    expect(v6("::ffff:192.0.2.128")).toBe("::ffff:192.0.2.128");
    expect(v6("0:0:0:0:0:ffff:c000:0280")).toBe("::ffff:192.0.2.128");
  });
  it("accepts an embedded dotted quad elsewhere and prints it in hex", () => {
    expect(v6("64:ff9b::192.0.2.33")).toBe("64:ff9b::c000:221");
  });
  it("rejects malformed text", () => {
    expect(v6("1:2:3:4:5:6:7:8:9")).toBe("invalid");
    expect(v6("1::2::3")).toBe("invalid");
    expect(v6(":1:2")).toBe("invalid");
    expect(v6("1:2:")).toBe("invalid");
    expect(v6("12345::")).toBe("invalid");
    expect(v6("1:2:3:4:5:6:7::8")).toBe("invalid");
    expect(v6("fe80::1%eth0")).toBe("invalid");
    expect(v6("::1.2.3")).toBe("invalid");
    expect(v6("g::1")).toBe("invalid");
  });
});
