// The one list of output formats, per command: the CLI's choices, its --help and the types of
// the commands' options all read it.
export const FORMATS = {
  validate: ['text', 'json', 'github', 'sarif'],
  diff: ['text', 'markdown', 'json'],
  status: ['text', 'json'],
} as const;

export type FormatOf<C extends keyof typeof FORMATS> = (typeof FORMATS)[C][number];
