import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

// The real bin, as an operator runs it: separate processes, JSON logs on stderr (not a TTY).

export const BIN = path.resolve(__dirname, '../../bin/flatfee-worker.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a spawned command: the test's database and prefix, nothing inherited for the board. */
export function cliEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  for (const key of ['BOARD_USER', 'BOARD_PASSWORD', 'BOARD_HOST', 'BOARD_READ_ONLY', 'BOARD_PORT', 'FLATFEE_FAULT']) delete env[key];
  return { ...env, ...overrides };
}

/** Runs a one-shot command to its exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running command (start, worker, board) whose JSON log lines can be awaited. */
export class LongRunning {
  readonly child: ChildProcess;
  readonly lines: Record<string, any>[] = [];
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];
  private partial = '';

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stderr!.on('data', (d) => this.onData(String(d)));
  }

  private onData(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      try {
        this.lines.push(JSON.parse(line));
      } catch {
        this.lines.push({ msg: line, unparsed: true });
      }
    }
    this.waiters.splice(0).forEach((wake) => wake());
  }

  /** The first log line matching, waiting for it up to timeoutMs. */
  async waitForLine(match: (line: Record<string, any>) => boolean, timeoutMs = 20000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no matching log line; exit ${this.child.exitCode}; got:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}
