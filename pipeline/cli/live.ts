import type { LiveLine } from '../core/runtime.ts';

/** Carriage return, then erase the whole line: the cursor is at column 0 of an empty line. */
export const CLEAR_LINE = '\r\x1b[2K';

/**
 * A LiveLine on a terminal's stdout. `columns` is read on every redraw because the window may be resized;
 * the text is cut one short of the width, since writing into the last column makes some terminals wrap,
 * and a wrapped line can no longer be erased by `\r`.
 */
export function createLiveLine(write: (text: string) => void, columns: () => number | undefined): LiveLine {
  let active = false;
  return {
    update(text) {
      write(`${CLEAR_LINE}${fit(text, columns())}`);
      active = true;
    },
    done() {
      if (!active) return;
      write(CLEAR_LINE);
      active = false;
    },
  };
}

/** Cuts by code points (not UTF-16 units) so a `·` or an emoji is never split in half. */
function fit(text: string, columns: number | undefined): string {
  if (columns === undefined || columns <= 1) return text;
  const chars = [...text];
  return chars.length < columns ? text : chars.slice(0, columns - 1).join('');
}

/**
 * A progress printer that first clears an active live line, so the printed line starts at column 0 and is
 * not appended to the meter's text; the meter draws itself again on its next redraw.
 */
export function progressBesideLive(live: LiveLine | undefined, print: (line: string) => void): (line: string) => void {
  if (!live) return print;
  return (line) => {
    live.done();
    print(line);
  };
}

/** The live line for a command's output, or none: only a terminal in human mode (not CI logs, pipes, --json). */
export function liveLineFor(stdout: { isTTY?: boolean; columns?: number }, asJson: boolean, write: (text: string) => void): LiveLine | undefined {
  if (asJson || stdout.isTTY !== true) return undefined;
  return createLiveLine(write, () => stdout.columns);
}
