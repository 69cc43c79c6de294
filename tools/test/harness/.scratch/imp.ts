import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
const addFormats = addFormatsImport.default;
const a = new Ajv({ strict: false });
addFormats(a);
console.log(typeof Ajv, typeof addFormats, a.validate({ type: 'string', format: 'uri' }, 'http://x'));
