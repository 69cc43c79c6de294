// JSON Pointer (RFC 6901), the one implementation: `~1` is `/` and `~0` is `~` inside a segment,
// unescaped in that order (so `~01` is `~1`), escaped in the reverse order.

/** One segment escaped for a pointer. */
export function escapeSegment(s: string | number): string {
  return String(s).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A pointer from path segments ('' for the whole document). */
export function toPointer(segs: Array<string | number>): string {
  return segs.length ? `/${segs.map(escapeSegment).join('/')}` : '';
}

/** The unescaped segments of a pointer ('' and '/' alike: none). */
export function pointerSegments(pointer: string): string[] {
  if (!pointer || pointer === '/') return [];
  return pointer.replace(/^\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The segments of a pointer, numbers for list indices (for walking parsed YAML). */
export function pointerToPath(pointer: string): (string | number)[] {
  return pointerSegments(pointer).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** A pointer as the dotted field path findings show (`spec.template.spec`). */
export function pointerToDotted(pointer: string): string {
  return pointerSegments(pointer).join('.');
}
