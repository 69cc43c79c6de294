// Temporary folders that own process groups (the local API server's, a rehearsal's run folder):
// the folder's name carries the owner's pid (`<prefix><pid>-*`) and `pids/<name>` records each
// child's pid and binary. The owner removes the folder when it is done; when it was SIGKILLed,
// the next run reaps it: every recorded group still running its recorded binary (checked against
// /proc/<pid>/exe, so a reused pid is left alone) is killed, then the folder removed.
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The executable a live pid runs (Linux /proc), to tell a recorded child from a reused pid. */
function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** A signal to the process group `pid` leads (children started detached), else to the pid alone. */
export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** A child recorded in a folder: its pid and the real path of its binary. */
export interface Recorded {
  pid: number;
  cmd: string;
  /** The name it was recorded under (its log's name). */
  name: string;
}

/** Records a child's pid and binary in `dir`/pids/`name` (synchronously: before anything can kill the owner). */
export function recordPid(dir: string, name: string, pid: number, cmd: string): void {
  // The binary as /proc/<pid>/exe will show it (symlinks resolved; not read from /proc now: the
  // child may not have exec'd yet), which a reused pid will not match.
  let exe = cmd;
  try {
    exe = realpathSync(cmd);
  } catch {
    // a bare name: kept as given
  }
  mkdirSync(path.join(dir, 'pids'), { recursive: true });
  writeFileSync(path.join(dir, 'pids', name), `${pid}\n${exe}\n`);
}

/** Every child `dir` recorded. */
export function recordedPids(dir: string): Recorded[] {
  const pidsDir = path.join(dir, 'pids');
  if (!existsSync(pidsDir)) return [];
  return readdirSync(pidsDir).flatMap((f) => {
    const [pid, cmd] = readFileSync(path.join(pidsDir, f), 'utf8').split('\n');
    return Number(pid) > 0 && cmd ? [{ pid: Number(pid), cmd, name: f }] : [];
  });
}

/** Whether a recorded child still runs (its pid runs its recorded binary). */
export function stillRuns(p: Recorded): boolean {
  return alive(p.pid) && exeOf(p.pid) === p.cmd;
}

/** SIGKILL to every recorded group that still runs, then the folder removed (synchronous: exit handlers). */
export function reapFolder(dir: string): void {
  for (const p of recordedPids(dir)) if (stillRuns(p)) killGroup(p.pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

/** Reaps the `<prefix><pid>-*` folders in `tmp` whose owner pid is gone; returns them. */
export function reapStale(prefix: string, tmp = os.tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return [];
  }
  const owner = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`);
  const out: string[] = [];
  for (const name of names) {
    const m = owner.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    reapFolder(path.join(tmp, name));
    out.push(path.join(tmp, name));
  }
  return out;
}
