// Numeric command-line arguments: plain decimal integers only. `0x2`, `1e0`, ` 3`, `+3`, `03`,
// `3.0` are refused rather than guessed at (Number() would accept most of them).
import { UsageError } from '../core/errors.js';

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** Parses `value` as a whole number in [min, max]; `what` names the argument in the error. */
export function parseWholeNumber(value: number | string, what: string, min: number, max: number): number {
  const ok = typeof value === 'number' ? Number.isSafeInteger(value) : DECIMAL.test(value) && value.length <= 15;
  const n = Number(value);
  if (!ok || n < min || n > max) {
    throw new UsageError(`${what} must be a whole number from ${min} to ${max}, written in plain decimal digits (got '${value}')`, typeof value === 'string' && value.trim() !== value ? 'remove the spaces around it' : undefined);
  }
  return n;
}
