// Newline-delimited output of a child read with a bound: a line longer than `maxBytes` is never
// held in memory whole (readline would buffer it all), its start is handed to `onOverflow` and
// the rest is skipped up to the next newline.
import type { Readable } from 'node:stream';

/** How much of an over-long line `onOverflow` sees (enough for a JSON line's leading id). */
const HEAD_BYTES = 256;

export function boundedLines(input: Readable, maxBytes: number, onLine: (line: string) => void, onOverflow: (head: string, bytes: number) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping: { head: string; bytes: number } | undefined;
  input.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); ; nl = chunk.indexOf(10, start)) {
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (skipping) skipping.bytes += piece.length;
      else if (size + piece.length > maxBytes) {
        const head = Buffer.concat([...parts, piece]).subarray(0, HEAD_BYTES).toString('utf8');
        skipping = { head, bytes: size + piece.length };
        parts = [];
        size = 0;
      } else if (piece.length) {
        parts.push(piece);
        size += piece.length;
      }
      if (nl < 0) break;
      if (skipping) {
        onOverflow(skipping.head, skipping.bytes);
        skipping = undefined;
      } else {
        const line = Buffer.concat(parts).toString('utf8');
        parts = [];
        size = 0;
        onLine(line);
      }
      start = nl + 1;
    }
  });
}
