/**
 * The PostgreSQL yardstick: raw `pg` named prepared point reads by primary key, CONCURRENCY
 * in flight, for SECONDS; prints one JSON line with reads/s (bench only).
 */
import pg from "pg";

const url = process.env.PG_URL!;
const seconds = Number(process.env.SECONDS ?? 10);
const concurrency = Number(process.env.CONCURRENCY ?? 32);
const pool = new pg.Pool({ connectionString: url, max: concurrency });
const ids = (await pool.query<{ id: string }>("SELECT id FROM haechi.subjects LIMIT 100000")).rows.map((r) => r.id);
if (ids.length === 0) throw new Error("no subjects to read");
let reads = 0;
let i = 0;
const read = () =>
  pool.query({ name: "bench_point_read", text: "SELECT id, status, created_at, updated_at FROM haechi.subjects WHERE id = $1", values: [ids[i++ % ids.length]] });
const loop = async (until: number) => {
  while (Date.now() < until) {
    await read();
    reads++;
  }
};
// warm-up, then measure
await Promise.all(Array.from({ length: concurrency }, () => loop(Date.now() + 2000)));
reads = 0;
const start = Date.now();
await Promise.all(Array.from({ length: concurrency }, () => loop(start + seconds * 1000)));
const elapsed = (Date.now() - start) / 1000;
await pool.end();
process.stdout.write(`${JSON.stringify({ reads, seconds: elapsed, concurrency, rps: reads / elapsed })}\n`);
