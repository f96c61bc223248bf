// Byte helpers for the unit tests: strings in and out of raw memory.

export function bytesOf(s: string): ArrayBuffer { return String.UTF8.encode(s); }

export function ptr(b: ArrayBuffer): usize { return changetype<usize>(b); }

export function textAt(p: usize, len: i32): string { return String.UTF8.decodeUnsafe(p, len); }
