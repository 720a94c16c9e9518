/**
 * The terminal: lines that scroll (results, notices) under one status line that redraws in place on a
 * TTY; when output is not a terminal (CI, a pipe), the status is printed as a plain line now and then.
 */
export class Terminal {
  private status = '';
  private lastPlainStatusMs = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly plainEveryMs = 5000,
  ) {}

  get isTTY(): boolean {
    return Boolean(this.out.isTTY);
  }

  /** A line that stays. */
  line(text: string): void {
    if (this.isTTY && this.status) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    if (this.isTTY && this.status) this.out.write(this.status);
  }

  /** The status line, redrawn in place. */
  setStatus(text: string, nowMs = Date.now()): void {
    if (this.isTTY) {
      const width = this.out.columns ?? 120;
      this.status = text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text;
      this.out.write(`\r\x1b[K${this.status}`);
    } else if (nowMs - this.lastPlainStatusMs >= this.plainEveryMs) {
      this.lastPlainStatusMs = nowMs;
      this.out.write(`${text}\n`);
    }
  }

  /** Leaves the status line behind (before exit). */
  done(): void {
    if (this.isTTY && this.status) this.out.write('\n');
    this.status = '';
  }
}

/** `[██████░░░░] 60%` */
export function progressBar(done: number, total: number, width = 24): string {
  const f = total <= 0 ? 1 : Math.min(1, done / total);
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

/** Epoch ms as a time of day, or '—'. */
export const clockTime = (ms: number | undefined): string => (ms === undefined ? '—' : new Date(ms).toISOString().slice(11, 23));
