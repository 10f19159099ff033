/**
 * The demo's output while it waits: its log lines, and one status line saying what is still
 * pending. On a terminal the status line is rewritten in place (and put back under every log
 * line); elsewhere (a pipe, a file, a test) it is printed as a line of its own at most once every
 * `everyMs`.
 */
export interface WaitDisplay {
  log: (line: string) => void;
  status: (text: string) => void;
  /** The wait is over: a status line shown in place is cleared. */
  end: () => void;
}

const CLEAR = '\r\x1b[2K';

/** Status lines as plain log lines, at most one every `everyMs` (the first at once). */
export function plainDisplay(log: (line: string) => void, everyMs = 10_000, now = Date.now): WaitDisplay {
  let last = -Infinity;
  return {
    log,
    status(text) {
      if (now() - last < everyMs) return;
      last = now();
      log(text);
    },
    end() {
      last = -Infinity;
    },
  };
}

/** One status line kept in place under the log lines (a terminal). */
export function terminalDisplay(write: (text: string) => void): WaitDisplay {
  let shown: string | undefined;
  return {
    log(line) {
      write(`${shown === undefined ? '' : CLEAR}${line}\n${shown ?? ''}`);
    },
    status(text) {
      shown = text;
      write(`${CLEAR}${text}`);
    },
    end() {
      if (shown !== undefined) write(CLEAR);
      shown = undefined;
    },
  };
}

/** The display for a stream: in place on a terminal, plain lines otherwise. */
export function displayFor(stream: NodeJS.WriteStream): WaitDisplay {
  const write = (text: string) => void stream.write(text);
  return stream.isTTY ? terminalDisplay(write) : plainDisplay((line) => write(`${line}\n`));
}
