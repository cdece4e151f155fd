// The lines of a child process's stdout or stderr as they arrive, read with a cursor.

/** The lines of a process's stdout or stderr, as they arrive, with a read cursor. */
export class LineStream {
  /** Every complete line so far (without its newline). */
  readonly lines: string[] = [];
  /** Index of the first line not yet consumed by `next()`. */
  cursor = 0;
  #partial = "";
  #ended = false;
  #wake: (() => void)[] = [];
  /** Resolves when the stream ends (the process closed it or exited). */
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Everything received so far, as one string (a trailing partial line included). */
  text(): string {
    return this.lines.map((l) => `${l}\n`).join("") + this.#partial;
  }

  /**
   * Consumes lines from the cursor up to and including the first one `match` accepts, and
   * returns them; if the stream ends first, returns what is left with `found: false`.
   */
  async next(
    match: (line: string) => boolean,
    timeoutMs: number,
  ): Promise<{ lines: string[]; found: boolean }> {
    const deadline = Date.now() + timeoutMs;
    let scanned = this.cursor;
    for (;;) {
      for (; scanned < this.lines.length; scanned++) {
        if (match(this.lines[scanned]!)) {
          const lines = this.lines.slice(this.cursor, scanned + 1);
          this.cursor = scanned + 1;
          return { lines, found: true };
        }
      }
      if (this.#ended) {
        const lines = this.lines.slice(this.cursor);
        this.cursor = this.lines.length;
        return { lines, found: false };
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no matching line within ${timeoutMs} ms; unread: ${JSON.stringify(this.lines.slice(this.cursor))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.#partial += decoder.decode(chunk, { stream: true });
        const parts = this.#partial.split("\n");
        this.#partial = parts.pop() ?? "";
        if (parts.length > 0) {
          this.lines.push(...parts.map((l) => l.replace(/\r$/, "")));
          this.#notify();
        }
      }
    } catch {
      // the process was killed mid-read: whatever arrived is kept
    }
    if (this.#partial !== "") this.lines.push(this.#partial);
    this.#partial = "";
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}
