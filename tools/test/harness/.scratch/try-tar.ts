import { writeOciLayout } from '../registry.ts';
const r = await writeOciLayout('/tmp/layout-x', { tag: 't', files: { 'a/b/c.txt': 'hello\n', 'top': 'x', ['d/'.repeat(60) + 'long.txt']: 'long' } });
console.log(r);
