// Errors a reader's browser would show in its console, kept on the page for `annsweep report --check`.
window.annsweepErrors = [];
window.addEventListener('error', function (e) {
  window.annsweepErrors.push(e.message || ('could not load ' + (e.target && (e.target.src || e.target.href))));
  document.documentElement.dataset.errors = window.annsweepErrors.join(' | ');
}, true);
