/** UTC hour/day/month buckets over a query range: row timestamp → bucket index → ISO label. */
import type { TimeBucket } from './spec.ts';
import { DAY_MS, HOUR_MS } from '../model/time.ts';

export interface Bucketer {
  readonly count: number;
  index(ts: number): number;
  label(i: number): string;
}

const FIXED: Record<'hour' | 'day', number> = { hour: HOUR_MS, day: DAY_MS };

export function timeBucketer(bucket: TimeBucket, from: number, to: number): Bucketer {
  if (bucket !== 'month') {
    const w = FIXED[bucket];
    const base = Math.floor(from / w);
    return {
      count: Math.max(1, Math.ceil(to / w) - base),
      index: (ts) => Math.floor(ts / w) - base,
      label: (i) => new Date((base + i) * w).toISOString(),
    };
  }
  const starts: number[] = [];
  const d = new Date(from);
  let m = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  while (m < to) {
    starts.push(m);
    const x = new Date(m);
    m = Date.UTC(x.getUTCFullYear(), x.getUTCMonth() + 1, 1);
  }
  return {
    count: starts.length,
    index: (ts) => {
      let i = starts.length - 1;
      while (i > 0 && ts < starts[i]!) i--;
      return i;
    },
    label: (i) => new Date(starts[i]!).toISOString(),
  };
}
