/**
 * CPU time of a server's process group (Linux `/proc`): user + system time of every live process
 * whose process group is the server's (servers start detached, as their own group leader). CPU
 * per event is the figure that holds on a shared, noisy machine where events/s swing with the
 * neighbours' load. Undefined where `/proc` is missing.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_S = 100;

export function groupCpuMs(pgid: number | undefined): { user: number; system: number } | undefined {
  if (pgid === undefined) return undefined;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  let user = 0;
  let system = 0;
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command (which may hold spaces) start at ") ": state ppid pgrp ... utime(14) stime(15).
    const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    if (Number(f[2]) !== pgid) continue;
    user += Number(f[11]);
    system += Number(f[12]);
  }
  return { user: (user * 1000) / TICKS_PER_S, system: (system * 1000) / TICKS_PER_S };
}
