import { bytesOf, ptr, textAt } from "./helpers";
import { Writer, writerAt } from "../writer";
import { storeText, storedLen, storedTruncated } from "../text";

const area = new ArrayBuffer(256);
const slot = new ArrayBuffer(16);

function w(): Writer { return writerAt(ptr(slot), ptr(area), 256); }
function out(x: Writer): string { return textAt(ptr(area), x.pos); }

describe("Writer", () => {
  it("writes decimal numbers up to 2^64 - 1", () => {
    const x = w();
    x.u64(0); x.byte(0x20); x.u64(18446744073709551615); x.byte(0x20); x.i64(-42);
    expect(out(x)).toBe("0 18446744073709551615 -42");
  });
  it("formats times as ISO 8601, leap days and offsets included", () => {
    let x = w(); x.isoTime(0, 0); expect(out(x)).toBe("1970-01-01T00:00:00.000Z");
    x = w(); x.isoTime(951825600123, 0); expect(out(x)).toBe("2000-02-29T12:00:00.123Z");
    x = w(); x.isoTime(253402300799999, 0); expect(out(x)).toBe("9999-12-31T23:59:59.999Z");
    x = w(); x.isoTime(1700000000000, 90); expect(out(x)).toBe("2023-11-14T23:43:20.000+01:30");
    x = w(); x.isoTime(1700000000000, -480); expect(out(x)).toBe("2023-11-14T14:13:20.000-08:00");
  });
  it("writes every digit count the same as toString", () => {
    let v: u64 = 1;
    for (let k = 0; k < 64; k++) {
      for (let d: u64 = 0; d < 3; d++) {
        const n = v - d; // just below each power of two (and 2^64 - 1), so every digit count shows
        const x = w(); x.u64(n); expect(out(x)).toBe(n.toString());
      }
      v <<= 1;
    }
    let p: u64 = 1;
    for (let k = 0; k < 19; k++) { const x = w(); x.u64(p); expect(out(x)).toBe(p.toString()); p *= 10; }
  });
  it("agrees with Date.toISOString over four millennia, in any order of days", () => {
    // A stride that is not a whole number of days, so times of day, leap years and century
    // rules all come by, and each call lands on a different day than the one cached before.
    let t: i64 = 0;
    for (let i = 0; i < 3000; i++) {
      const x = w(); x.isoTime(t, 0);
      expect(out(x)).toBe(new Date(t).toISOString());
      const back = t >> 1;
      const y = w(); y.isoTime(back, 0);
      expect(out(y)).toBe(new Date(back).toISOString());
      t += 48_271_987_654_321 / 1000 + 37;
    }
  });
  it("formats UUIDs", () => {
    const x = w(); x.uuid(0x0123456789abcdef, 0xfedcba9876543210);
    expect(out(x)).toBe("01234567-89ab-cdef-fedc-ba9876543210");
  });
  it("escapes JSON strings", () => {
    const b = bytesOf("q\"b\\\n\t\x01é");
    const x = w(); x.jsonString(ptr(b), b.byteLength);
    expect(out(x)).toBe("\"q\\\"b\\\\\\n\\t\\u0001é\"");
  });
});

const dst = new ArrayBuffer(64);

describe("storeText", () => {
  it("keeps valid UTF-8 as is", () => {
    const b = bytesOf("héllo €𝄞");
    storeText(ptr(dst), 64, ptr(b), b.byteLength);
    expect(textAt(ptr(dst), storedLen)).toBe("héllo €𝄞");
    expect(storedTruncated).toBe(false);
  });
  it("bounds by escaped size and never cuts a character", () => {
    const b = bytesOf("ab€");            // € is 3 bytes
    storeText(ptr(dst), 4, ptr(b), b.byteLength);
    expect(textAt(ptr(dst), storedLen)).toBe("ab");
    expect(storedTruncated).toBe(true);
    const q = bytesOf("\"\"\"");          // 2 escaped bytes each
    storeText(ptr(dst), 5, ptr(q), q.byteLength);
    expect(storedLen).toBe(2);
  });
  it("replaces each maximal ill-formed subpart with U+FFFD", () => {
    const b = new ArrayBuffer(6);
    const v = Uint8Array.wrap(b);
    v[0] = 0x41; v[1] = 0xe2; v[2] = 0x82; v[3] = 0x42; v[4] = 0xc0; v[5] = 0x80;
    storeText(ptr(dst), 64, ptr(b), 6);
    expect(textAt(ptr(dst), storedLen)).toBe("A\uFFFDB\uFFFD\uFFFD");
  });
});
