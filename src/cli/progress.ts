/**
 * A one-line progress bar on stderr, redrawn at most every 100 ms, only when stderr is a
 * terminal: piped or captured output (CI, scripts, tests) stays quiet.
 */
import type { CliStream } from './context.ts';

export class Progress {
  private readonly out: CliStream;
  private readonly label: string;
  private readonly total: number;
  private readonly enabled: boolean;
  private done = 0;
  private lastDraw = 0;

  constructor(out: CliStream, label: string, total: number, enabled: boolean) {
    this.out = out;
    this.label = label;
    this.total = total;
    this.enabled = enabled && total > 0;
  }

  tick(n = 1): void {
    this.set(this.done + n);
  }

  set(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const width = 30;
    const filled = Math.min(width, Math.round((done / this.total) * width));
    this.out.write(`\r${this.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${this.total}`);
  }

  /** Clears the bar's line. */
  end(): void {
    if (this.enabled && this.lastDraw > 0) this.out.write('\r\u001b[2K');
  }
}
