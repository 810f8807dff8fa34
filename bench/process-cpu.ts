/**
 * CPU time of processes from /proc, for the benchmarks: user + system seconds, which hardly move
 * when other jobs compete for the cores (unlike rates), so they are the fairer cost measure here.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Fields after the command name (which is in parentheses and may contain spaces): [1] = ppid, [11] = utime, [12] = stime. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds of these processes and of their direct children (cluster workers, redis-server). */
export function cpuSecondsWithChildren(pids: readonly number[]): number {
  const wanted = new Set(pids);
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = statFields(stat);
    if (!wanted.has(Number(entry)) && !wanted.has(Number(fields[1]))) continue;
    total += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }
  return total;
}
