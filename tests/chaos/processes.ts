/**
 * Process faults for chaos runs, read from /proc: the function workers below a process (to kill one at
 * a random moment), and a `shardflow dev` subprocess whose whole process group can be SIGKILLed.
 * Only processes this run started are ever signalled: descendants of this process, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

function processes(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // exited, not yet reaped
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      found.push({ pid: Number(entry), ppid: Number(fields[1]), cmdline });
    } catch {
      // gone already
    }
  }
  return found;
}

/** Every live process below `root`. */
export function descendants(root: number): ProcInfo[] {
  const all = processes();
  const out: ProcInfo[] = [];
  const walk = (pid: number): void => {
    for (const p of all) {
      if (p.ppid !== pid) continue;
      out.push(p);
      walk(p.pid);
    }
  };
  walk(root);
  return out;
}

/** The Lambda-like function workers (lib/local/function-host-child.js) below `root`. */
export const workerPids = (root: number = process.pid): number[] =>
  descendants(root)
    .filter((p) => p.cmdline.includes('function-host-child.js'))
    .map((p) => p.pid);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** `shardflow dev` as a subprocess in its own process group, so one signal reaches it and its workers. */
export interface DevSubprocess {
  readonly child: ChildProcess;
  output(): string;
  /**
   * SIGKILL to the whole process group (the dev process and its function workers: nothing runs an
   * exit handler), then waits for the emulators — which live in their own groups, as cloud services
   * outlive a crashed client — to notice and shut down, writing their data.
   */
  hardKill(): Promise<void>;
}

export async function startDevSubprocess(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<DevSubprocess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/shardflow.js'), 'dev', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + timeoutMs;
  while (!/ready in/.test(out)) {
    if (child.exitCode !== null) throw new Error(`shardflow dev exited early:\n${out}`);
    if (Date.now() > deadline) {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`shardflow dev not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    hardKill: async () => {
      const below = descendants(child.pid!).map((p) => p.pid);
      const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
      // Beyond a persisting kinesis' own shutdown deadline (60 s): its last save of a large data set takes seconds.
      const until = Date.now() + 65_000;
      while (below.some(isAlive)) {
        if (Date.now() > until) {
          for (const pid of below.filter(isAlive)) process.kill(pid, 'SIGKILL');
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
