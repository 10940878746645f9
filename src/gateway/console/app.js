// The dfs web console (served by dfsgw, see src/gateway/console.h). Plain DOM code:
// every string from the server goes into the page with textContent, never as HTML.
// Every state-changing call sends the session's CSRF token in X-CSRF-Token.
'use strict';

const $ = (id) => document.getElementById(id);
let me = null;          // {user, admin, csrf, home}
let cwd = '/';
let detailsPath = null;
let renameFrom = null;
let adminTimer = null;

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.appendChild(k);
  return e;
}

function say(text, info) {
  const m = $('message');
  m.textContent = text;
  m.className = info ? 'info' : '';
  m.hidden = !text;
}

async function api(method, name, params, body) {
  const qs = params ? '?' + new URLSearchParams(params).toString() : '';
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = me ? me.csrf : '';
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch('/console/api/' + name + qs, opts);
  let j = {};
  try { j = await r.json(); } catch (e) { j = { error: 'HTTP ' + r.status }; }
  if (r.status === 401 && name !== 'login') { showLogin(); }
  if (!r.ok) { const e = new Error(j.error || ('HTTP ' + r.status)); e.status = r.status; throw e; }
  return j;
}

function join(dir, name) { return dir === '/' ? '/' + name : dir + '/' + name; }
function size(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function when(ms) { return ms ? new Date(ms).toLocaleString() : ''; }

// ---- views

function show(view) {
  for (const v of ['login-view', 'files-view', 'trash-view', 'admin-view']) $(v).hidden = v !== view;
  for (const a of ['nav-files', 'nav-trash', 'nav-admin'])
    $(a).classList.toggle('active', a === 'nav-' + view.replace('-view', ''));
  if (view !== 'admin-view' && adminTimer) { clearInterval(adminTimer); adminTimer = null; }
}

function showLogin() {
  me = null;
  $('nav').hidden = true;
  $('logout-btn').hidden = true;
  $('whoami').textContent = '';
  show('login-view');
}

function loggedIn(j) {
  me = j;
  $('whoami').textContent = j.user + (j.admin ? ' (administrator)' : '');
  $('nav').hidden = false;
  $('nav-admin').hidden = !j.admin;
  $('logout-btn').hidden = false;
  say('');
  route();
}

function route() {
  if (!me) return showLogin();
  const h = decodeURIComponent(location.hash.slice(1));
  if (h === 'admin' && me.admin) return openAdmin();
  if (h === 'trash') return openTrash();
  const path = h.startsWith('/') ? h : (cwd !== '/' ? cwd : me.home);
  openDir(path);
}

// ---- files

async function openDir(path) {
  show('files-view');
  let j;
  try {
    j = await api('GET', 'list', { path });
  } catch (e) {
    if (path !== '/' && e.status === 404 && path === me.home) return openDir('/');
    say(e.message);
    return;
  }
  cwd = path;
  if (decodeURIComponent(location.hash.slice(1)) !== path) history.replaceState(null, '', '#' + encodeURIComponent(path));
  crumbs(path);
  const tb = $('entries');
  tb.replaceChildren();
  const entries = j.entries.slice().sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1));
  if (path !== '/') {
    const up = path.slice(0, path.lastIndexOf('/')) || '/';
    tb.appendChild(el('tr', {}, el('td', { colspan: '5' }, el('a', { class: 'dir', text: '..', onclick: () => openDir(up) }))));
  }
  for (const e of entries) tb.appendChild(row(e, join(path, e.name)));
}

function crumbs(path) {
  const c = $('crumbs');
  c.replaceChildren();
  c.appendChild(el('a', { text: '/', onclick: () => openDir('/') }));
  let acc = '';
  const parts = path.split('/').filter(Boolean);
  parts.forEach((p, i) => {
    acc += '/' + p;
    const target = acc;
    if (i) c.appendChild(el('span', { class: 'sep', text: '/' }));
    c.appendChild(el('a', { text: p, 'data-path': target, onclick: () => openDir(target) }));
  });
}

function row(e, path) {
  const isDir = e.type === 'dir';
  const name = isDir ? el('a', { class: 'dir', text: e.name + '/', onclick: () => openDir(path) })
                     : el('span', { text: e.name });
  const acts = el('td', { class: 'actions' });
  if (!isDir) {
    acts.appendChild(el('a', { class: 'button-link act-download', text: 'Download',
      href: '/console/api/file?' + new URLSearchParams({ path }).toString(), download: e.name }));
    acts.appendChild(el('button', { type: 'button', class: 'act-details', text: 'Details', onclick: () => openDetails(path) }));
  }
  acts.appendChild(el('button', { type: 'button', class: 'act-rename', text: 'Rename', onclick: () => startRename(path) }));
  acts.appendChild(el('button', { type: 'button', class: 'act-trash', text: 'Trash', onclick: () => trash(path) }));
  return el('tr', { 'data-name': e.name, 'data-type': e.type },
    el('td', {}, name), el('td', { text: isDir ? e.size + ' items' : size(e.size) }),
    el('td', { text: when(e.mtime_ms) }), el('td', { text: e.owner }), acts);
}

function startRename(path) {
  renameFrom = path;
  $('rename-from').textContent = path.slice(path.lastIndexOf('/') + 1);
  $('rename-input').value = path.slice(path.lastIndexOf('/') + 1);
  $('rename-box').hidden = false;
  $('rename-input').focus();
}

async function doRename(ev) {
  ev.preventDefault();
  const to = $('rename-input').value.trim();
  if (!renameFrom || !to) return;
  const dst = to.startsWith('/') ? to : join(renameFrom.slice(0, renameFrom.lastIndexOf('/')) || '/', to);
  try {
    await api('POST', 'rename', null, { src: renameFrom, dst });
    $('rename-box').hidden = true;
    say('Renamed to ' + dst, true);
  } catch (e) { say(e.message); }
  openDir(cwd);
}

async function trash(path) {
  try {
    await api('POST', 'trash', null, { path });
    say('Moved ' + path + ' to the trash', true);
  } catch (e) { say(e.message); }
  openDir(cwd);
}

async function mkdir(ev) {
  ev.preventDefault();
  const name = $('mkdir-name').value.trim();
  if (!name) return;
  try {
    await api('POST', 'mkdir', null, { path: join(cwd, name) });
    $('mkdir-name').value = '';
    say('Created ' + name, true);
  } catch (e) { say(e.message); }
  openDir(cwd);
}

// ---- uploads: one PUT per file, the browser streams the body; progress per file

function upload(files) {
  for (const f of files) {
    const bar = el('div', { class: 'bar' });
    const pct = el('span', { class: 'pct', text: '0%' });
    const line = el('div', { class: 'upload', 'data-name': f.name },
      el('span', { text: f.name + ' (' + size(f.size) + ')' }), el('div', { class: 'track' }, bar), pct);
    $('uploads').appendChild(line);
    const dir = cwd;
    const x = new XMLHttpRequest();
    x.open('PUT', '/console/api/file?' + new URLSearchParams({ path: join(dir, f.name) }).toString());
    x.setRequestHeader('X-CSRF-Token', me.csrf);
    x.upload.addEventListener('progress', (ev) => {
      if (!ev.lengthComputable) return;
      // 99% until the gateway answers (the commit comes after the last byte)
      const p = Math.min(99, Math.floor(100 * ev.loaded / Math.max(1, ev.total)));
      bar.style.width = p + '%';
      pct.textContent = p + '%';
    });
    x.addEventListener('load', () => {
      if (x.status === 200) {
        bar.style.width = '100%';
        pct.textContent = '100%';
        line.classList.add('done');
        if (cwd === dir) openDir(cwd);
      } else {
        let m = 'HTTP ' + x.status;
        try { m = JSON.parse(x.responseText).error || m; } catch (e) { /* not JSON */ }
        line.classList.add('failed');
        pct.textContent = 'failed';
        say(f.name + ': ' + m);
      }
    });
    x.addEventListener('error', () => { line.classList.add('failed'); pct.textContent = 'failed'; });
    x.send(f);
  }
}

// ---- search

async function search(ev) {
  ev.preventDefault();
  const q = $('search-q').value.trim();
  if (!q) return;
  try {
    const j = await api('GET', 'search', { q, path: me.admin ? '/' : me.home });
    const ul = $('hits');
    ul.replaceChildren();
    for (const h of j.hits) {
      const isDir = h.entry && h.entry.type === 'dir';
      const parent = h.path.slice(0, h.path.lastIndexOf('/')) || '/';
      ul.appendChild(el('li', { class: 'hit', 'data-path': h.path },
        el('a', { class: 'dir', text: h.path, onclick: () => openDir(isDir ? h.path : parent) })));
    }
    if (!j.hits.length) ul.appendChild(el('li', { class: 'muted', text: 'Nothing found' }));
    if (j.truncated) ul.appendChild(el('li', { class: 'muted', text: 'More matched than shown' }));
    $('search-results').hidden = false;
  } catch (e) { say(e.message); }
}

// ---- details and sharing

async function openDetails(path) {
  let j;
  try { j = await api('GET', 'details', { path }); } catch (e) { say(e.message); return; }
  detailsPath = path;
  $('details-path').textContent = path;
  const e = j.entry || {};
  $('details-summary').textContent = size(e.size || 0) + ', ' + (e.chunks || 0) + ' chunk(s), replication goal ' +
    (e.replicas || 0) + ', owner ' + (e.owner || '') + ', modified ' + when(e.mtime_ms) + (j.truncated ? ' (first chunks only)' : '');
  const tb = $('chunks');
  tb.replaceChildren();
  for (const c of j.chunks) {
    const reps = c.replicas.map((s) => s.server_id + ' @ ' + s.address).join(', ') || 'no live replica';
    tb.appendChild(el('tr', { class: 'chunk' }, el('td', { text: String(c.index) }),
      el('td', { class: 'chunk-id mono', text: c.id }), el('td', { text: String(c.version) }),
      el('td', { text: String(c.length) }),
      el('td', { class: 'chunk-replicas mono', text: reps + ' (' + c.replicas.length + '/' + c.goal + ')' })));
  }
  $('share-url').hidden = true;
  $('share-note').textContent = '';
  $('details').hidden = false;
}

async function share(ev) {
  ev.preventDefault();
  const s = parseInt($('share-expires').value, 10);
  try {
    const j = await api('POST', 'share', null, { path: detailsPath, expires_s: s });
    $('share-url').value = j.url;
    $('share-url').hidden = false;
    $('share-note').textContent = 'Anyone with this link can download the file until ' + when(j.expires_ms) +
      ' (signed with access key ' + j.key + '; deleting the key ends the link).';
  } catch (e) { say(e.message); }
}

// ---- trash

async function openTrash() {
  show('trash-view');
  let j;
  try { j = await api('GET', 'trash'); } catch (e) { say(e.message); return; }
  const tb = $('trash-items');
  tb.replaceChildren();
  for (const t of j.items) {
    tb.appendChild(el('tr', { class: 'trash-item', 'data-path': t.original_path },
      el('td', { text: t.original_path }), el('td', { text: t.entry ? size(t.entry.size) : '' }),
      el('td', { text: when(t.deleted_ms) }), el('td', { text: when(t.expires_ms) }),
      el('td', { class: 'actions' }, el('button', { type: 'button', class: 'act-restore', text: 'Restore', onclick: () => restore(t) }))));
  }
  if (!j.items.length) tb.appendChild(el('tr', {}, el('td', { colspan: '5', class: 'muted', text: 'The trash is empty' })));
}

async function restore(t) {
  try {
    await api('POST', 'restore', null, { id: t.id });
    say('Restored ' + t.original_path, true);
  } catch (e) { say(e.message); }
  openTrash();
}

// ---- admin: the cluster, and live charts of the gateway's traffic

const series = { t: [], bin: [], bout: [], ops: [] };
let lastStats = null;

function openAdmin() {
  show('admin-view');
  refreshAdmin();
  if (!adminTimer) adminTimer = setInterval(refreshAdmin, 2000);
}

async function refreshAdmin() {
  try {
    const [c, s] = await Promise.all([api('GET', 'cluster'), api('GET', 'stats')]);
    drawCluster(c);
    if (lastStats && s.t_ms > lastStats.t_ms) {
      const dt = (s.t_ms - lastStats.t_ms) / 1000;
      series.bin.push((s.bytes_in - lastStats.bytes_in) / dt);
      series.bout.push((s.bytes_out - lastStats.bytes_out) / dt);
      series.ops.push((s.requests - lastStats.requests) / dt);
      for (const k of ['bin', 'bout', 'ops']) if (series[k].length > 60) series[k].shift();
    }
    lastStats = s;
    chart($('chart-bytes'), [[series.bin, '#2f6fde'], [series.bout, '#1f9d55']], size);
    chart($('chart-ops'), [[series.ops, '#d08a00']], (v) => v.toFixed(1));
  } catch (e) { say(e.message); }
}

function drawCluster(c) {
  const h = c.health;
  const set = (id, v) => { $(id).textContent = String(v); $(id).parentElement.classList.toggle('alarm', v > 0); };
  set('h-under', h.under_replicated);
  set('h-endangered', h.endangered);
  set('h-missing', h.missing);
  set('h-corrupt', h.corrupt);
  $('c-running').textContent = String(c.copies.running);
  $('c-queued').textContent = String(c.copies.queued);
  $('cluster-summary').textContent = c.files + ' files, ' + c.dirs + ' directories, ' + c.chunks +
    ' chunks; copies done ' + c.copies.done + ', failed ' + c.copies.failed + (c.copies.rebalancing ? '; rebalancing' : '');
  const tb = $('servers');
  tb.replaceChildren();
  for (const s of c.servers) {
    const used = s.capacity ? (s.capacity - s.free) / s.capacity : 0;
    const bar = el('div', { class: 'bar' + (used > 0.85 ? ' high' : '') });
    bar.style.width = Math.round(100 * used) + '%';
    tb.appendChild(el('tr', { class: 'server', 'data-address': s.address },
      el('td', { text: String(s.id) }), el('td', { class: 'mono', text: s.address }),
      el('td', { class: 'server-state state-' + s.state.replace(/[^a-z]/g, ''), text: s.state }),
      el('td', {}, el('span', { class: 'cap' }, bar), el('span', { text: size(s.capacity - s.free) + ' of ' + size(s.capacity) })),
      el('td', { text: String(s.chunks) }), el('td', { text: (s.heartbeat_ms_ago / 1000).toFixed(1) + ' s ago' }),
      el('td', { text: s.copies_running + ' running, ' + s.copies_queued + ' queued' })));
  }
}

function chart(cv, lines, fmt) {
  const g = cv.getContext('2d');
  const W = cv.width, H = cv.height, pad = 28;
  g.clearRect(0, 0, W, H);
  let max = 1;
  for (const [d] of lines) for (const v of d) max = Math.max(max, v);
  g.strokeStyle = '#e3e6ec';
  g.fillStyle = '#6b7280';
  g.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (H - pad) * i / 4;
    g.beginPath(); g.moveTo(0, y); g.lineTo(W, y); g.stroke();
    g.fillText(fmt(max * (4 - i) / 4), 4, y - 2);
  }
  for (const [d, colour] of lines) {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    d.forEach((v, i) => {
      const x = W - (d.length - 1 - i) * (W / 59);
      const y = pad / 2 + (H - pad) * (1 - v / max);
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  }
}

// ---- wiring

async function login(ev) {
  ev.preventDefault();
  try {
    const j = await api('POST', 'login', null, { username: $('login-user').value, password: $('login-pass').value });
    $('login-pass').value = '';
    loggedIn(j);
  } catch (e) { say(e.message); }
}

async function logout() {
  try { await api('POST', 'logout', null, {}); } catch (e) { /* the session is gone anyway */ }
  cwd = '/';
  history.replaceState(null, '', '/console/');
  showLogin();
  say('Logged out', true);
}

document.addEventListener('DOMContentLoaded', async () => {
  $('login-form').addEventListener('submit', login);
  $('logout-btn').addEventListener('click', logout);
  $('mkdir-form').addEventListener('submit', mkdir);
  $('rename-form').addEventListener('submit', doRename);
  $('rename-cancel').addEventListener('click', () => { $('rename-box').hidden = true; });
  $('search-form').addEventListener('submit', search);
  $('search-close').addEventListener('click', () => { $('search-results').hidden = true; });
  $('details-close').addEventListener('click', () => { $('details').hidden = true; });
  $('share-form').addEventListener('submit', share);
  $('file-input').addEventListener('change', (ev) => { upload(ev.target.files); ev.target.value = ''; });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => { ev.preventDefault(); drop.classList.remove('over'); upload(ev.dataTransfer.files); });
  window.addEventListener('hashchange', route);
  try { loggedIn(await api('GET', 'me')); } catch (e) { showLogin(); }
});
