// Live run page: the server says "changed" over SSE, we re-fetch the live fragment.
(function () {
  var root = document.getElementById("live");
  if (!root || !window.EventSource) return;
  var source = new EventSource(root.dataset.events);
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(root.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) root.innerHTML = html; })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  source.addEventListener("changed", refresh);
  source.addEventListener("open", function () { root.dataset.connected = "1"; });
})();
