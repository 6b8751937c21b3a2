import { randomFillSync } from 'node:crypto';

// ULIDs for the rows the worker creates, on every path. The ulid package draws one random byte per
// character with its own crypto call (16 calls per id), which showed up in the batched worker's CPU
// profile. Same format and entropy (48-bit ms time + 80 random bits, Crockford base32), with the
// random bytes drawn from the OS 4 KiB at a time.

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomByte(): number {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  return pool[offset++];
}

export function fastUlid(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += ALPHABET[randomByte() & 31];
  return time + random;
}
