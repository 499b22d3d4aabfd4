/**
 * A FIFO async mutex. better-sqlite3 is synchronous but a DataStore transaction body is async,
 * so every use of the single write connection is serialised through one of these: two
 * overlapping transactions must never interleave their statements on one connection.
 */
export class AsyncMutex {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
