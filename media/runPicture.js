// The picture of a run, drawn in its webview from the data the extension posts
// (src/protocol/runPicture.ts): rows of steps and item lanes, a bar per attempt, the times when
// no runner ran squeezed into marked gaps. Theme colours; arrow keys move from bar to bar.
(function () {
  const vscode = acquireVsCodeApi();
  const canvas = document.getElementById('picture');
  const ctx = canvas.getContext('2d');
  const summary = document.getElementById('summary');
  const detail = document.getElementById('detail');
  const tbody = document.querySelector('#steps tbody');
  const LABEL_W = 140;
  const STEP_H = 18;
  const LANE_H = 7;
  const GAP_W = 26;
  const PAD = 6;
  let picture;
  let layout;
  let order = []; // bars by start, for the keyboard
  let selected = -1;

  const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  const colours = () => ({
    ok: css('--vscode-charts-green', '#388a34'),
    failed: css('--vscode-charts-red', '#e51400'),
    stopped: css('--vscode-charts-orange', '#d18616'),
    paused: css('--vscode-charts-yellow', '#bf8803'),
    running: css('--vscode-charts-blue', '#1a85ff'),
    upToDate: css('--vscode-descriptionForeground', '#888'),
    text: css('--vscode-foreground', '#ccc'),
    faint: css('--vscode-editorWidget-border', '#555'),
    focus: css('--vscode-focusBorder', '#007fd4'),
  });

  /**
   * Time to x. The runners' lives and the stretches between them (no runner: a pause, or a runner
   * lost until the next resume) in order; a stretch long against the rest is squeezed into a
   * marked gap of fixed width, a short one keeps its time. Each stretch is hatched.
   */
  function timeAxis(p, width) {
    const runs = p.runs.slice().sort((a, b) => a.start - b.start);
    if (!runs.length) runs.push({ start: p.start, end: p.end, how: p.status });
    runs[0] = { ...runs[0], start: Math.min(runs[0].start, p.start) };
    const lastRun = runs.length - 1;
    runs[lastRun] = { ...runs[lastRun], end: Math.max(runs[lastRun].end, p.end) };
    const parts = [];
    runs.forEach((r, i) => {
      if (i > 0) parts.push({ gap: true, start: runs[i - 1].end, end: Math.max(runs[i - 1].end, r.start), lost: runs[i - 1].how === 'lost' });
      parts.push({ gap: false, start: r.start, end: Math.max(r.start, r.end) });
    });
    const linear = parts.reduce((n, q) => n + (q.end - q.start), 0) || 1;
    for (const q of parts) q.squeezed = q.gap && q.end - q.start > Math.max(2000, linear * 0.05);
    const kept = parts.reduce((n, q) => n + (q.squeezed ? 0 : q.end - q.start), 0) || 1;
    const plot = Math.max(50, width - LABEL_W - PAD * 2 - parts.filter((q) => q.squeezed).length * GAP_W);
    let left = LABEL_W + PAD;
    for (const q of parts) {
      q.left = left;
      q.width = q.squeezed ? GAP_W : ((q.end - q.start) / kept) * plot;
      left += q.width;
    }
    const x = (t) => {
      for (const q of parts) if (t <= q.end) return t <= q.start ? q.left : q.left + (q.squeezed ? q.width / 2 : ((t - q.start) / Math.max(1, q.end - q.start)) * q.width);
      const last = parts[parts.length - 1];
      return last.left + last.width;
    };
    return { x, gaps: parts.filter((q) => q.gap) };
  }

  function draw() {
    if (!picture) return;
    const began = performance.now();
    const c = colours();
    const width = Math.max(400, document.getElementById('frame').clientWidth);
    const tops = [];
    let y = PAD;
    for (const row of picture.rows) {
      tops.push(y);
      y += row.lane === 'step' ? STEP_H : LANE_H;
    }
    const height = y + PAD + 16;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const axis = timeAxis(picture, width);
    layout = { tops, axis, height };
    ctx.font = `12px ${css('--vscode-font-family', 'sans-serif')}`;
    ctx.textBaseline = 'middle';
    // Gaps: no runner ran (a pause, or a runner lost and resumed later).
    for (const g of axis.gaps) {
      const w = Math.max(2, g.width);
      ctx.fillStyle = c.faint;
      for (let k = 0; k < height - 16; k += 6) ctx.fillRect(g.left, k, w, 2);
      ctx.fillStyle = g.lost ? c.failed : c.text;
      const mark = g.lost ? '✕' : '❚❚';
      ctx.fillText(mark, g.left + w / 2 - ctx.measureText(mark).width / 2, height - 8);
    }
    // Row labels.
    for (let i = 0; i < picture.rows.length; i++) {
      if (picture.rows[i].lane !== 'step') continue;
      ctx.fillStyle = c.text;
      ctx.fillText(clip(picture.rows[i].step, LABEL_W - 8), 4, tops[i] + STEP_H / 2);
    }
    // Bars.
    for (const bar of picture.bars) {
      const row = picture.rows[bar.row];
      const top = tops[bar.row];
      const h = row.lane === 'step' ? STEP_H - 6 : LANE_H - 2;
      const x0 = axis.x(bar.start);
      const w = Math.max(1, axis.x(bar.end) - x0);
      ctx.fillStyle = c[bar.kind] || c.text;
      if (bar.kind === 'upToDate') {
        ctx.beginPath();
        ctx.arc(x0, top + STEP_H / 2, 4, 0, Math.PI * 2);
        ctx.fill();
        continue;
      }
      ctx.globalAlpha = bar.span ? 0.35 : 1;
      ctx.fillRect(x0, top + 3, w, h);
      ctx.globalAlpha = 1;
      if (bar.n > 1) {
        ctx.fillStyle = c.text; // a retry: a tick at its start
        ctx.fillRect(x0, top + 1, 1, h + 4);
      }
    }
    if (selected >= 0 && order[selected]) {
      const bar = order[selected];
      const top = tops[bar.row];
      ctx.strokeStyle = c.focus;
      ctx.lineWidth = 2;
      ctx.strokeRect(axis.x(bar.start) - 2, top + 1, Math.max(1, axis.x(bar.end) - axis.x(bar.start)) + 4, (picture.rows[bar.row].lane === 'step' ? STEP_H - 6 : LANE_H - 2) + 4);
    }
    // Time: the start, and the end (now, while it runs).
    ctx.fillStyle = c.text;
    ctx.fillText(new Date(picture.start).toLocaleString(), LABEL_W + PAD, height - 8);
    const endText = picture.live ? 'now' : new Date(picture.end).toLocaleTimeString();
    ctx.fillText(endText, width - PAD - ctx.measureText(endText).width, height - 8);
    return performance.now() - began;
  }

  function clip(text, width) {
    if (ctx.measureText(text).width <= width) return text;
    while (text.length > 1 && ctx.measureText(`${text}…`).width > width) text = text.slice(0, -1);
    return `${text}…`;
  }

  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : ms < 3600000 ? `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s` : `${Math.floor(ms / 3600000)} h ${Math.round((ms % 3600000) / 60000)} min`);
  function describe(bar) {
    const what = bar.item !== undefined ? `${bar.step} item ${bar.item}` : bar.step;
    if (bar.kind === 'upToDate') return `${what}: up to date, not run (${new Date(bar.start).toLocaleTimeString()})`;
    const how = { ok: 'succeeded', failed: 'failed', stopped: 'stopped', paused: 'paused', running: 'running' }[bar.kind];
    return `${what}, attempt ${bar.n}: ${how}${bar.said ? ` (${bar.said})` : ''}, ${duration(bar.end - bar.start)}, from ${new Date(bar.start).toLocaleTimeString()}`;
  }

  function table() {
    const rows = new Map();
    for (const bar of picture.bars) {
      const r = rows.get(bar.step) || { attempts: 0, items: new Set(), failed: 0, start: Infinity, end: -Infinity };
      if (bar.kind !== 'upToDate' && !bar.span) r.attempts++;
      if (bar.item !== undefined) r.items.add(bar.item);
      if (bar.kind === 'failed') r.failed++;
      r.start = Math.min(r.start, bar.start);
      r.end = Math.max(r.end, bar.end);
      rows.set(bar.step, r);
    }
    tbody.textContent = '';
    for (const row of picture.rows) {
      if (row.lane !== 'step') continue;
      const r = rows.get(row.step);
      const tr = document.createElement('tr');
      for (const text of [row.step, r ? r.attempts : 0, r && r.items.size ? r.items.size : '', r ? r.failed : 0, r ? duration(r.end - r.start) : '']) {
        const td = document.createElement('td');
        td.textContent = String(text);
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
  }

  function select(i) {
    if (!order.length) return;
    selected = Math.max(0, Math.min(order.length - 1, i));
    detail.textContent = describe(order[selected]);
    draw();
  }

  canvas.addEventListener('keydown', (e) => {
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 10, ArrowUp: -10, PageDown: 100, PageUp: -100 };
    if (e.key in moves) select((selected < 0 ? 0 : selected) + moves[e.key]);
    else if (e.key === 'Home') select(0);
    else if (e.key === 'End') select(order.length - 1);
    else return;
    e.preventDefault();
  });
  canvas.addEventListener('mousemove', (e) => {
    if (!layout) return;
    const rect = canvas.getBoundingClientRect();
    const mx = e.clientX - rect.left;
    const my = e.clientY - rect.top;
    const row = layout.tops.findIndex((top, i) => my >= top && my < top + (picture.rows[i].lane === 'step' ? STEP_H : LANE_H));
    if (row < 0) return;
    const bar = picture.bars.find((b) => b.row === row && mx >= layout.axis.x(b.start) - 2 && mx <= layout.axis.x(b.end) + 2);
    if (bar) detail.textContent = describe(bar);
  });
  window.addEventListener('resize', () => draw());

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (m.type === 'title') {
      document.querySelector('h1').textContent = m.title;
      document.title = m.title;
      selected = -1;
      return;
    }
    if (m.type === 'problem') {
      summary.textContent = m.message;
      return;
    }
    if (m.type !== 'picture') return;
    const received = performance.now();
    picture = decode(m.picture);
    picture.live = m.live;
    order = picture.bars.slice().sort((a, b) => a.start - b.start || a.row - b.row);

    if (selected >= order.length) selected = order.length - 1;
    const n = picture.counts;
    const lost = picture.runs.filter((r) => r.how === 'lost').length;
    const pauses = Math.max(0, picture.runs.length - 1 - lost);
    summary.textContent =
      `${picture.status}: ${n.steps} step${n.steps === 1 ? '' : 's'}${n.items ? `, ${n.items} item${n.items === 1 ? '' : 's'}` : ''}, ${n.attempts} attempt${n.attempts === 1 ? '' : 's'}; ` +
      `${picture.runs.length} runner${picture.runs.length === 1 ? '' : 's'}${pauses ? `, ${pauses} pause${pauses === 1 ? '' : 's'}` : ''}${lost ? `, ${lost} lost` : ''}`;
    canvas.setAttribute('aria-label', summary.textContent);
    draw();
    table();
    document.body.dataset.steps = String(n.steps);
    document.body.dataset.items = String(n.items);
    document.body.dataset.bars = String(picture.bars.length);
    // After the browser has painted: what the person waited for.
    requestAnimationFrame(() => vscode.postMessage({ type: 'drawn', generation: m.generation, ms: m.readMs + (performance.now() - received), bars: picture.bars.length, steps: n.steps, items: n.items }));
  });
  /** The bars back from their columns (src/protocol/runPicture.ts encodePicture). */
  function decode(p) {
    const KINDS = ['ok', 'failed', 'stopped', 'paused', 'running', 'upToDate'];
    const c = p.bars;
    const bars = new Array(c.count);
    for (let i = 0; i < c.count; i++) {
      const bar = { row: c.row[i], start: c.start[i], end: c.end[i], kind: KINDS[c.kind[i]], n: c.n[i], step: p.steps[c.step[i]] };
      if (c.item[i] >= 0) bar.item = c.item[i];
      if (c.span[i]) bar.span = true;
      if (c.said[i] !== undefined) bar.said = c.said[i];
      bars[i] = bar;
    }
    return { ...p, bars };
  }

  // Asked again until the first picture comes: a 'ready' sent before the extension listened is lost.
  vscode.postMessage({ type: 'ready' });
  const hello = setInterval(() => (picture ? clearInterval(hello) : vscode.postMessage({ type: 'ready' })), 500);
})();
