/**
 * A report that would repeat every few seconds through an outage (detection's refresh) is written
 * at most once a minute, with how many failures it stands for.
 */
export const onceAMinute = <E>(report: (e: E, more: number) => void, now: () => number = Date.now) => {
  let last = Number.NEGATIVE_INFINITY;
  let more = 0;
  return (e: E) => {
    if (now() - last < 60_000) {
      more += 1;
      return;
    }
    report(e, more);
    last = now();
    more = 0;
  };
};
