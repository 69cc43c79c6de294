// The promotion board: `npm run status -- --format html`, one self-contained page (inline CSS, no
// script, no external resource) showing each app's pipeline across its environments, what runs
// where (tag, digest, release files), what waits, what is ahead (a promotion would downgrade it),
// what differs, health when known, and the open release pull requests.
import type { AppStatus, PinView, Relation, StatusReport } from './status.js';

/** Argo CD's view of one app in one environment (promote --require-healthy reads the same). */
export interface HealthView {
  sync?: string;
  health?: string;
  revision?: string;
  /** Why it could not be read. */
  error?: string;
}

export interface BoardPull {
  number: number;
  url: string;
  title: string;
  kind?: string;
  env?: string;
  app?: string;
}

export interface BoardOptions {
  /** When the page was made (ISO time). */
  generatedAt: string;
  /** The revision the status is of, e.g. a commit id. */
  revision?: string;
  /** app id -> environment -> health. */
  health?: Record<string, Record<string, HealthView>>;
  /** Open release pull requests; undefined when not asked (no token). */
  pulls?: BoardPull[];
  /** Why the pull requests could not be listed. */
  pullsError?: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Only http(s) links reach an href. */
function safeUrl(u: string): string | undefined {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

const STATE_LABEL: Record<Relation['state'] | 'in-sync', string> = { waiting: 'waiting', ahead: 'ahead', behind: 'behind', differs: 'differs', 'in-sync': 'in sync' };

function badge(state: Relation['state'] | 'in-sync' | 'error' | 'health-ok' | 'health-bad' | 'neutral', text: string, title?: string): string {
  return `<span class="badge b-${state}"${title ? ` title="${esc(title)}"` : ''}>${esc(text)}</span>`;
}

const short = (image: string) => image.split('/').pop()!;

function pinCell(key: string, v: PinView | null | undefined, requireDigests: boolean): string {
  if (!v) return `<li class="img"><span class="name">${esc(short(key))}</span> <span class="muted">not rendered</span></li>`;
  const setBy = v.setBy && !(v.setBy.kind === 'images' && v.setBy.overlay) ? `<span class="where" title="set by ${esc(v.setBy.file)}${v.setBy.line ? `:${v.setBy.line}` : ''}">set in ${esc(v.setBy.file.split('/').slice(-2).join('/'))}</span>` : '';
  return `<li class="img"><span class="name">${esc(short(v.name))}</span> <span class="tag">${esc(v.tag ?? '(untagged)')}</span>${v.short ? ` <code class="digest" title="${esc(v.digest ?? '')}">@${esc(v.short)}</code>` : (requireDigests ? ' <span class="warn">no digest</span>' : ' <span class="muted small">tag only</span>')}${v.mixed ? ' <span class="warn">mixed</span>' : ''}${setBy}</li>`;
}

function healthBadge(h: HealthView | undefined): string {
  if (!h) return '';
  if (h.error) return badge('error', 'health unknown', h.error);
  const ok = h.sync === 'Synced' && h.health === 'Healthy';
  return badge(ok ? 'health-ok' : 'health-bad', `${h.sync ?? '?'} · ${h.health ?? '?'}`, h.revision ? `revision ${h.revision}` : undefined);
}

function envColumn(a: AppStatus, env: { name: string }, r: StatusReport, opts: BoardOptions): string {
  const deployed = a.deployedTo.includes(env.name);
  if (!deployed) return `<section class="env off" data-env="${esc(env.name)}"><h4>${esc(env.name)}</h4><p class="muted">not deployed</p></section>`;
  const e = r.environments.find((x) => x.name === env.name);
  const imgs = Object.entries(a.images).map(([k, per]) => pinCell(k, per[env.name], !!e?.requireDigests));
  // A release file no environment of this app has is not part of its release.
  const files = Object.entries(a.files).filter(([, per]) => Object.values(per).some((v) => v)).map(([f, per]) => {
    const v = per[env.name];
    return `<li class="file"><span class="name">${esc(f)}</span> ${v ? `<code class="digest" title="sha256:${esc(v.sha256)}">${esc(v.short)}</code>` : '<span class="muted">none</span>'}</li>`;
  });
  const err = a.errors?.[env.name];
  const health = healthBadge(opts.health?.[a.id]?.[env.name]);
  return `<section class="env" data-env="${esc(env.name)}"><h4>${esc(env.name)}${e?.requireDigests ? ' <span class="muted small">digests required</span>' : ''}${health ? ` ${health}` : ''}</h4><p class="overlay"><code>${esc(a.overlays[env.name] ?? (a.applications?.[env.name] ? `${a.applications[env.name]!.path} (Application ${a.applications[env.name]!.name}, ${a.applications[env.name]!.source})` : ''))}</code></p>${imgs.length || files.length ? `<ul class="parts">${imgs.join('')}${files.join('')}</ul>` : '<p class="muted">no images</p>'}${err ? `<p class="error">render failed: ${esc(err.length > 300 ? `${err.slice(0, 297)}...` : err)}</p>` : ''}</section>`;
}

function arrow(a: AppStatus, from: string, to: string, promotes: boolean): string {
  const rel = a.relations.find((x) => x.from === from && x.to === to);
  const both = a.deployedTo.includes(from) && a.deployedTo.includes(to);
  let label = '';
  if (rel) label = badge(rel.state, STATE_LABEL[rel.state]);
  else if (promotes && both) label = badge('in-sync', 'in sync');
  return `<div class="arrow${promotes ? '' : ' faint'}" aria-hidden="${promotes ? 'false' : 'true'}"><span class="glyph">→</span>${label}</div>`;
}

function relationDetails(a: AppStatus): string {
  const lines: string[] = [];
  for (const rel of a.relations) {
    for (const it of rel.items) {
      if (it.relation === 'same') continue;
      const what = `${it.kind === 'file' ? 'file ' : ''}${short(it.name)}`;
      const how =
        it.relation === 'newer' ? `newer in ${rel.from}` : it.relation === 'older' ? `older in ${rel.from}: promoting would downgrade ${rel.to}` : `cannot be ordered${it.why ? ` (${it.why})` : ''}`;
      const by = it.by === 'semver' ? ' — by semantic version' : it.by === 'created' ? ` — by registry build time` : '';
      lines.push(`<li>${badge(rel.state, STATE_LABEL[rel.state])} <b>${esc(rel.from)} → ${esc(rel.to)}</b> ${esc(what)}: <code>${esc(it.from)}</code> vs <code>${esc(it.to)}</code>, ${esc(how)}${esc(by)}</li>`);
    }
  }
  return lines.length ? `<ul class="details">${lines.join('')}</ul>` : '';
}

function appCard(a: AppStatus, r: StatusReport, opts: BoardOptions): string {
  const envs = r.environments;
  const parts: string[] = [];
  envs.forEach((env, i) => {
    if (i > 0) parts.push(arrow(a, envs[i - 1]!.name, env.name, env.promotesFrom.includes(envs[i - 1]!.name)));
    parts.push(envColumn(a, env, r, opts));
  });
  const states = a.relations.map((x) => badge(x.state, x.state === 'waiting' ? `${x.from} → ${x.to} waiting` : x.state === 'ahead' ? `${x.to} ahead of ${x.from}` : x.state === 'behind' ? `${x.to} behind ${x.from}` : `${x.from} → ${x.to} differs`));
  if (!states.length && !a.differs && !Object.keys(a.errors ?? {}).length) states.push(badge('in-sync', a.deployedTo.length > 1 ? 'in sync' : `only ${a.deployedTo.join(', ')}`));
  if (!states.length && a.differs) states.push(badge('differs', 'differs'));
  for (const e of Object.keys(a.errors ?? {})) states.push(badge('error', `${e}: render failed`));
  const pulls = (opts.pulls ?? []).filter((p) => p.app === a.id);
  const prs = pulls.length ? `<p class="prs">${pulls.map((p) => prLink(p)).join(' ')}</p>` : '';
  return `<article class="app" id="app-${esc(a.id.replace(/\//g, '-'))}" data-app="${esc(a.id)}"><header><h3>${esc(a.id)}</h3><div class="states">${states.join(' ')}</div></header><div class="pipeline">${parts.join('')}</div>${relationDetails(a)}${prs}</article>`;
}

function prLink(p: BoardPull): string {
  const url = safeUrl(p.url);
  const text = `#${p.number} ${p.kind ?? 'release'}${p.env ? ` → ${p.env}` : ''}`;
  return url ? `<a class="pr" href="${esc(url)}" title="${esc(p.title)}">${esc(text)}</a>` : `<span class="pr">${esc(text)}</span>`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:#f4f5f7;color:#1c2230}
code{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.top{background:#1c2230;color:#fff;padding:18px 24px}
.top h1{margin:0 0 4px;font-size:20px}
.top p{margin:0;color:#c5cad6;font-size:13px}
main{max-width:1240px;margin:0 auto;padding:12px 16px 40px}
.summary{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.stat{background:#fff;border:1px solid #dfe3ea;border-radius:8px;padding:8px 12px;min-width:120px}
.stat b{display:block;font-size:20px}
.legend{font-size:12px;color:#4a5366;margin:0 0 8px}
h2{font-size:16px;margin:22px 0 8px}
.app{background:#fff;border:1px solid #dfe3ea;border-radius:10px;margin:0 0 12px;padding:12px 14px}
.app>header{display:flex;flex-wrap:wrap;align-items:center;gap:6px 12px;margin-bottom:8px}
.app h3{margin:0;font-size:15px}
.states{display:flex;flex-wrap:wrap;gap:6px}
.pipeline{display:flex;align-items:stretch}
.env{flex:1 1 0;min-width:0;border:1px solid #e4e7ed;border-radius:8px;padding:8px 10px;background:#fbfcfd}
.env.off{background:repeating-linear-gradient(135deg,#f6f7f9,#f6f7f9 6px,#eef0f3 6px,#eef0f3 12px)}
.env h4{margin:0 0 2px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.env h4 .badge{text-transform:none;letter-spacing:0}
.overlay{margin:0 0 6px;overflow-wrap:anywhere;color:#5b6478}
.parts{list-style:none;margin:0;padding:0}
.parts li{padding:3px 0;border-top:1px dashed #e4e7ed;overflow-wrap:anywhere}
.parts li:first-child{border-top:0}
.name{color:#4a5366}
.tag{font-weight:600}
.digest{color:#5b6478}
.where{display:block;font-size:11px;color:#7a8295}
.arrow{flex:0 0 auto;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:4px;padding:0 8px;min-width:84px}
.arrow.faint .glyph{color:#c9ced8}
.glyph{font-size:22px;color:#5b6478;line-height:1}
.badge{display:inline-block;border-radius:999px;padding:1px 8px;font-size:12px;font-weight:600;white-space:nowrap;border:1px solid transparent}
.b-waiting{background:#e3efff;color:#0b4fb3;border-color:#b6d2fb}
.b-ahead{background:#fde7e7;color:#a31515;border-color:#f4b8b8}
.b-behind{background:#fff3d6;color:#8a5a00;border-color:#f1d58f}
.b-differs{background:#efe7fb;color:#5a2ca0;border-color:#d5c2f3}
.b-in-sync{background:#e3f6e8;color:#1c6b35;border-color:#b5e2c1}
.b-error{background:#fde7e7;color:#a31515;border-color:#f4b8b8}
.b-health-ok{background:#e3f6e8;color:#1c6b35;border-color:#b5e2c1}
.b-health-bad{background:#fff3d6;color:#8a5a00;border-color:#f1d58f}
.b-neutral{background:#eef0f3;color:#4a5366}
.details{margin:8px 0 0;padding-left:18px;font-size:13px}
.details li{margin:2px 0;overflow-wrap:anywhere}
.muted{color:#7a8295}.small{font-size:11px;text-transform:none;letter-spacing:0}
.warn{color:#8a5a00;font-size:12px}
.error{color:#a31515;overflow-wrap:anywhere;margin:6px 0 0}
.prs{margin:8px 0 0}
.pr{margin-right:8px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dfe3ea;border-radius:8px}
th,td{text-align:left;padding:6px 10px;border-top:1px solid #eef0f3;vertical-align:top;overflow-wrap:break-word}
th{background:#f7f8fa;font-size:12px;color:#4a5366}
@media (max-width:720px){
  main{padding:8px 8px 32px}
  .top{padding:14px 14px}
  .pipeline{flex-direction:column}
  .arrow{flex-direction:row;padding:4px 0;min-width:0}
  .glyph{transform:rotate(90deg)}
  .stat{min-width:0;flex:1 1 40%}
  table,tbody,tr,td{display:block}
  thead{display:none}
  tr{border-top:1px solid #eef0f3;padding:6px 0}
  tr:first-child{border-top:0}
  td{border:0;padding:1px 10px}
  td::before{content:attr(data-label) ": ";color:#7a8295;font-size:12px}
}
`;

/** The board as one HTML document. */
export function formatBoardHtml(r: StatusReport, opts: BoardOptions): string {
  const count = (s: Relation['state']) => r.apps.filter((a) => a.relations.some((x) => x.state === s)).length;
  const failed = r.apps.filter((a) => Object.keys(a.errors ?? {}).length).length;
  const stats = [
    ['apps', r.apps.length],
    ['waiting', count('waiting')],
    ['ahead (would downgrade)', count('ahead')],
    ['behind', count('behind')],
    ['differs', count('differs')],
    ...(failed ? [['render failed', failed] as const] : []),
    ...(opts.pulls ? [['open release PRs', opts.pulls.length] as const] : []),
  ] as const;
  const envs = r.environments.map((e) => (e.promotesFrom.length ? `${e.promotesFrom.join(' / ')} → ${e.name}` : e.name)).filter((x, _, all) => !all.some((y) => y !== x && y.startsWith(`${x} →`))).join(' · ');
  const waiting = r.pending.length
    ? `<ul>${r.pending.map((p) => `<li><a href="#app-${esc(p.app.replace(/\//g, '-'))}">${esc(p.app)}</a> ${esc(p.from)} → ${esc(p.to)}: ${esc(p.images.map(short).join(', '))} — <code>npm run promote ${esc(p.app)} ${esc(p.to)}${r.environments.find((e) => e.name === p.to)!.promotesFrom.length > 1 ? ` -- --from ${esc(p.from)}` : ''}</code></li>`).join('')}</ul>`
    : '<p class="muted">Nothing waits to be promoted.</p>';
  let pulls = '';
  if (opts.pullsError) pulls = `<h2>Open release pull requests</h2><p class="error">could not list them: ${esc(opts.pullsError)}</p>`;
  else if (opts.pulls) {
    pulls = `<h2>Open release pull requests</h2>${
      opts.pulls.length
        ? `<table><thead><tr><th>#</th><th>kind</th><th>app</th><th>env</th><th>title</th></tr></thead><tbody>${opts.pulls.map((p) => `<tr><td data-label="pull request">${safeUrl(p.url) ? `<a href="${esc(safeUrl(p.url)!)}">#${p.number}</a>` : `#${p.number}`}</td><td data-label="kind">${esc(p.kind ?? '')}</td><td data-label="app">${esc(p.app ?? '')}</td><td data-label="env">${esc(p.env ?? '')}</td><td data-label="title">${esc(p.title)}</td></tr>`).join('')}</tbody></table>`
        : '<p class="muted">None open.</p>'
    }`;
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Promotion board</title><style>${CSS}</style></head>
<body><div class="top"><h1>Promotion board</h1><p>${esc(envs)} · generated ${esc(opts.generatedAt)}${opts.revision ? ` · at ${esc(opts.revision.slice(0, 12))}` : ''}</p></div>
<main>
<div class="summary">${stats.map(([k, v]) => `<div class="stat" data-stat="${esc(String(k))}"><b>${v}</b>${esc(String(k))}</div>`).join('')}</div>
<p class="legend">${badge('waiting', 'waiting')} the source is newer · ${badge('ahead', 'ahead')} the target is newer: promoting would downgrade it · ${badge('behind', 'behind')} an environment further up is newer · ${badge('differs', 'differs')} no order can be told (not semver, no build time) · ${badge('in-sync', 'in sync')} same release. Versions are ordered by semver, else by the registry's build time of each digest.</p>
<h2>Waiting to be promoted</h2>${waiting}
${pulls}
<h2>Apps</h2>
${r.apps.map((a) => appCard(a, r, opts)).join('\n')}
</main></body></html>
`;
}
