// Sortable tables: click (or Enter on) a header; cells sort by their data-v value (the raw number
// behind "0.23 ms"), else by their text; blanks last; again to reverse.
function sortBy(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
  th.parentNode.querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = dir;
  const key = tr => {
    const td = tr.children[col];
    const raw = td.dataset.v !== undefined ? td.dataset.v : td.textContent.trim();
    if (raw === '') return null;
    const n = Number(raw.replace(/,/g, ''));
    return isNaN(n) ? raw : n;
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null) return y === null ? 0 : 1;
    if (y === null) return -1;
    const c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return dir === 'asc' ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.sortable th').forEach(th => {
  th.addEventListener('click', () => sortBy(th));
  th.addEventListener('keydown', e => { if (e.key === 'Enter') sortBy(th); });
});
// A figure's points: the hovered (or tapped) point's run, written under the figure as well as in
// the browser's own tooltip (the <title>).
document.querySelectorAll('figure.chart').forEach(fig => {
  const out = fig.querySelector('.readout');
  fig.querySelectorAll('.pt').forEach(pt => {
    const show = () => {
      fig.querySelectorAll('.pt.on').forEach(p => p.classList.remove('on'));
      pt.classList.add('on');
      out.textContent = pt.querySelector('title').textContent;
    };
    pt.addEventListener('mouseenter', show);
    pt.addEventListener('click', show);
  });
});
document.body.dataset.ready = '1';
