import { startGitServer, createBareRepo } from '/work/main/tools/test/harness/git-server.ts';
import { run, cleanGitEnv } from '/work/main/tools/test/harness/proc.ts';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
const root = await mkdtemp('/tmp/gs/root-');
const seed = await mkdtemp('/tmp/gs/seed-'); await mkdir(seed+'/a'); await writeFile(seed+'/a/x.txt','hi');
console.log(await createBareRepo(root, 'r.git', seed));
const s = await startGitServer({ root, token: 'sekret' });
const env = cleanGitEnv();
try {
  const d = await mkdtemp('/tmp/gs/c-');
  await run('git', ['-c','credential.helper=','clone', s.authedRepoUrl('r.git'), d+'/w'], {env});
  console.log('clone ok');
  try { await run('git', ['-c','credential.helper=','clone', s.repoUrl('r.git'), d+'/w2'], {env}); console.log('BAD'); } catch (e) { console.log('noauth failed ok', String(e).slice(-200)); }
  await writeFile(d+'/w/y.txt','y');
  await run('git', ['-C', d+'/w','add','.'], {env}); await run('git',['-C',d+'/w','-c','user.name=a','-c','user.email=a@b','commit','-m','y'],{env});
  s.failNextPush();
  try { await run('git', ['-C', d+'/w','push','origin','HEAD:refs/heads/feat'], {env}); console.log('BAD push'); } catch (e) { console.log('push failed ok', String(e).slice(-300)); }
  await run('git', ['-C', d+'/w','push','origin','HEAD:refs/heads/feat'], {env});
  console.log((await run('git', ['--git-dir', root+'/r.git', 'branch'], {env})).stdout);
  console.log(s.requests);
} finally { await s.stop(); }
