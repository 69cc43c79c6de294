// What every check reports: one finding per problem, naming the overlay, the object, the file
// and line, and the field. Checks in every layer make them; report/ prints them.

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  rule: string;
  /** Overlay or cluster entry point folder, e.g. overlays/crianex/nofluxo/backend. */
  overlay: string;
  /** Kind/namespace/name, or '' for findings about a file. */
  resource: string;
  message: string;
  /** Source file (repo-relative) and 1-based line, when known. */
  file?: string;
  line?: number;
  /** Field path in the rendered object (dotted), when known. */
  field?: string;
  /**
   * Internal, never printed: target folders a finding filed under a cluster entry point is
   * about (an ApplicationSet generator failing on an overlay's file), so that a scoped run
   * (--app, --changed-only) selecting that folder reports it as a full run does.
   */
  subjects?: string[];
  /** Internal, never printed: JSON pointer of `field` in the rendered object (to locate it again). */
  pointer?: string;
}
