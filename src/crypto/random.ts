/**
 * Random bytes from a pool refilled from the CSPRNG in 16 KiB draws.
 *
 * Each `crypto.randomBytes` call costs ≈ 3.4 µs here whatever its size (OpenSSL 3.0's per-call
 * locking), and creating one subject takes several small draws (data key, IVs, audit
 * reference). Bytes handed out are copied and then wiped from the pool, so key material never
 * lingers there and no byte is ever handed out twice.
 */
import crypto from "node:crypto";

const POOL_BYTES = 16 * 1024;
let pool = Buffer.alloc(0);
let offset = 0;

export const randomBytes = (n: number): Buffer => {
  if (n > 1024) return crypto.randomBytes(n);
  if (offset + n > pool.length) {
    pool = crypto.randomBytes(POOL_BYTES);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
};
