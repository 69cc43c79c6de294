// Runs under Renovate's own Node 24 (tools/renovate): resolves a repository config the way Renovate
// does (defaults, migration, presets) and feeds the package files of an extract report, each
// dependency given a digest, pin, minor and major update, through Renovate's own flattenUpdates:
// the step that applies packageRules (enabled, automerge, labels) and names branches. Lookups
// need the network; this reproduces everything after them, offline.
// usage: node renovate-rules.mjs <renovate dist dir> <renovate.json> <extract report.json>
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, configFile, reportFile] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { getConfig } = await load('config/defaults.js');
const { migrateAndValidate } = await load('config/migrate-validate.js');
const { resolveConfigPresets } = await load('config/presets/index.js');
const { mergeChildConfig } = await load('config/utils.js');
const { flattenUpdates } = await load('workers/repository/updates/flatten.js');

const defaults = getConfig();
const migrated = await migrateAndValidate(defaults, JSON.parse(await readFile(configFile, 'utf8')));
if (migrated.errors?.length) throw new Error(`config errors: ${JSON.stringify(migrated.errors)}`);
const { config: resolved } = await resolveConfigPresets(migrated, defaults);
const config = mergeChildConfig(defaults, resolved);

const report = JSON.parse(await readFile(reportFile, 'utf8'));
const packageFiles = Object.values(report.repositories)[0].packageFiles;
const DIGEST = `sha256:${'b'.repeat(64)}`;
for (const files of Object.values(packageFiles)) {
  for (const file of files) {
    for (const dep of file.deps) {
      // A dependency the manager itself disabled or skipped gets no lookup, hence no update.
      dep.updates =
        dep.skipReason || dep.enabled === false
          ? []
          : [
              { updateType: dep.currentDigest ? 'digest' : 'pinDigest', newValue: dep.currentValue, newDigest: DIGEST },
              { updateType: 'minor', newValue: '98.99.0', newVersion: '98.99.0', newMajor: 98, newMinor: 99, newDigest: DIGEST },
              { updateType: 'major', newValue: '99.0.0', newVersion: '99.0.0', newMajor: 99, newMinor: 0, newDigest: DIGEST },
            ];
    }
  }
}
const updates = await flattenUpdates(config, packageFiles);
process.stdout.write(
  JSON.stringify(
    updates.map((u) => ({
      manager: u.manager,
      packageFile: u.packageFile,
      depName: u.depName,
      depType: u.depType,
      updateType: u.updateType,
      automerge: u.automerge === true,
      branchName: u.branchName,
      labels: [...(u.labels ?? []), ...(u.addLabels ?? [])],
      groupName: u.groupName ?? null,
    })),
  ),
);
