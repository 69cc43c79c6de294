// The one list of output formats, per command: the CLI's choices, its --help and the types of
// the commands' options all read it.

/** The findings report's formats (report/report.ts): validate's, and rehearse's. */
const REPORT = ['text', 'json', 'github', 'sarif'] as const;

export const FORMATS = {
  validate: REPORT,
  rehearse: REPORT,
  diff: ['text', 'markdown', 'json'],
  status: ['text', 'json', 'html'],
} as const;

export type FormatOf<C extends keyof typeof FORMATS> = (typeof FORMATS)[C][number];
