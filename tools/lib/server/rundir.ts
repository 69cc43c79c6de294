// The processes of a sync rehearsal: each in its own process group, on 127.0.0.1, with the
// scrubbed child environment, logged into one temporary run folder that records every pid.
// Stopped on success, failure, Ctrl-C and SIGTERM (core/cleanup.ts); a later run reaps what a
// SIGKILLed one left (pidfolder.ts: gitops-rehearse-<pid>-*, pids/<name>).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KillOnExit } from '../core/cleanup.js';
import { exposedListeners } from './sockets.js';
import { killGroup, reapFolder, reapStale as reapStaleFolders, recordedPids, recordPid, stillRuns } from './pidfolder.js';
import { childEnv } from '../core/exec.js';

const PREFIX = 'gitops-rehearse-';

/** What every live run folder started is killed on exit, Ctrl-C and SIGTERM (core/cleanup.ts). */
const live = new KillOnExit<RunDir>();

export interface Spawned {
  name: string;
  child: ChildProcess;
  log: string;
}

export class RunDir {
  private readonly procs: Spawned[] = [];
  private stopped = false;

  private constructor(readonly dir: string) {}

  static async create(): Promise<RunDir> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
    await mkdir(path.join(dir, 'pids'));
    await mkdir(path.join(dir, 'logs'));
    const r = new RunDir(dir);
    live.add(r);
    return r;
  }

  /** Records a process started elsewhere (the API server's etcd and kube-apiserver). */
  record(name: string, pid: number, cmd: string): void {
    recordPid(this.dir, name, pid, cmd);
  }

  logFile(name: string): string {
    return path.join(this.dir, 'logs', `${name}.log`);
  }

  /** Starts `cmd` in its own process group, output to logs/<name>.log; `env` on top of the scrubbed one. */
  spawn(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; keep?: string[]; cwd?: string } = {}): Spawned {
    const log = this.logFile(name);
    const fd = openSync(log, 'a');
    try {
      const child = spawn(cmd, args, { cwd: opts.cwd ?? this.dir, detached: true, stdio: ['ignore', fd, fd], env: childEnv({ keep: opts.keep, set: opts.env }) });
      child.on('error', () => {}); // seen by the readiness checks (exitCode) and the log
      if (child.pid) this.record(name, child.pid, cmd);
      const s = { name, child, log };
      this.procs.push(s);
      return s;
    } finally {
      closeSync(fd);
    }
  }

  /** Throws with the log's tail when a process exited. */
  async check(s: Spawned): Promise<void> {
    if (s.child.exitCode === null && s.child.signalCode === null) return;
    const tail = (await readFile(s.log, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
    throw new Error(`${s.name} exited (${s.child.exitCode ?? s.child.signalCode}):\n${tail}`);
  }

  /** SIGKILL to one process's group; resolves once it is gone. */
  async kill(s: Spawned): Promise<void> {
    if (!s.child.pid || s.child.exitCode !== null || s.child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
    killGroup(s.child.pid, 'SIGKILL');
    await gone;
  }

  /** Peak resident memory (VmHWM) of every recorded process, in KiB, summed. */
  peakRssKiB(): number {
    let total = 0;
    for (const { pid } of recordedPids(this.dir)) {
      let status = '';
      try {
        status = readFileSync(`/proc/${pid}/status`, 'utf8');
      } catch {
        continue; // gone
      }
      const m = /VmHWM:\s+(\d+)/.exec(status);
      if (m) total += Number(m[1]);
    }
    return total;
  }

  /** Recorded processes listening beyond 127.0.0.1, each as `<name> on <address>:<port>`. */
  exposed(): string[] {
    const running = recordedPids(this.dir).filter(stillRuns);
    const names = new Map(running.map((p) => [p.pid, p.name]));
    return exposedListeners(running.map((p) => p.pid)).map((l) => `${names.get(l.pid)} on ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`);
  }

  /** SIGKILL to every recorded group and the folder removed (synchronous: exit handler). */
  killNow(): void {
    if (this.stopped) return;
    reapFolder(this.dir);
    this.stopped = true;
    live.delete(this);
  }

  /** TERM to every process, KILL after `graceMs`, then the folder removed (its logs copied to `keepLogs` first). */
  async stop(graceMs = 3000, keepLogs?: string): Promise<void> {
    if (this.stopped) return;
    if (keepLogs) await cp(path.join(this.dir, 'logs'), keepLogs, { recursive: true }).catch(() => undefined);
    // Only pids still running the recorded binary: a pid of a process that already ended may be reused.
    const pids = recordedPids(this.dir).filter(stillRuns);
    for (const p of pids) killGroup(p.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && pids.some(stillRuns)) await sleep(100);
    this.killNow();
    // A killed child stays a zombie until Node reaps it (its 'exit' event): wait for that, bounded.
    const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
    const reaped = Date.now() + 5000;
    while (Date.now() < reaped && this.procs.some((p) => p.child.pid && !exited(p.child))) await sleep(50);
  }
}

/** Reaps the run folders of rehearsals whose process is gone (killed with SIGKILL); returns them. */
export function reapStale(tmp = os.tmpdir()): string[] {
  return reapStaleFolders(PREFIX, tmp);
}
