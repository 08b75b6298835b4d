// SICANTIK Companion — the little script the staff pages need. Pages work without it; it only
// adds live progress on the sync page and drag-and-drop onto the upload form.
(function () {
  "use strict";

  // Sync page: while a run is in progress, poll its status and update the progress bars; when a
  // run finishes (or a new one starts) reload once so every table is current.
  function watchSync(table) {
    var url = table.getAttribute("data-live");
    if (!url) return;
    var running = {};
    table.querySelectorAll("tr[data-run-id]").forEach(function (tr) {
      var o = tr.querySelector(".outcome.running");
      if (o) running[tr.getAttribute("data-run-id")] = true;
    });
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          var still = {};
          (s.running || []).forEach(function (run) {
            still[run.id] = true;
            var tr = table.querySelector('tr[data-run-id="' + run.id + '"]');
            if (!tr) { location.reload(); return; }
            var bar = tr.querySelector("progress");
            if (bar) { bar.max = Math.max(run.progress_total, 1); bar.value = run.progress_done; }
            var text = tr.querySelector(".progress-text");
            if (text) text.textContent = run.progress_done.toLocaleString("id-ID") + "/" + run.progress_total.toLocaleString("id-ID");
            var fetched = tr.querySelector(".fetched");
            if (fetched) fetched.textContent = run.fetched.toLocaleString("id-ID");
          });
          for (var id in running) { if (!still[id]) { location.reload(); return; } }
          setTimeout(tick, 2000);
        })
        .catch(function () { setTimeout(tick, 5000); });
    }
    setTimeout(tick, 1500);
  }

  // Upload form: files dropped on the zone go into the file input and the form is sent; the
  // plain file picker and submit button keep working without this.
  function dropUpload(form) {
    var zone = form.querySelector(".dropzone");
    var input = form.querySelector("input[type=file]");
    if (!zone || !input) return;
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;
      form.submit();
    });
    input.addEventListener("change", function () {
      var names = [].map.call(input.files, function (f) { return f.name; });
      zone.setAttribute("data-files", names.join(", "));
    });
  }

  // Tables turn into cards on a phone (app.css): each cell gets its column's name to show.
  function labelCells(table) {
    var heads = [].map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.replace(/[▾▴]/g, "").trim();
    });
    if (!heads.length) return;
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      [].forEach.call(tr.children, function (td, i) {
        if (heads[i] && !td.hasAttribute("data-label") && !td.hasAttribute("colspan")) {
          td.setAttribute("data-label", heads[i]);
        }
      });
    });
  }

  // The official's batch signing: select all, the count on the button, and a confirmation that
  // names how many will be signed (and how many are for permits already expired, when rows
  // carry data-expired). Without the script the form still posts as before.
  function batchForm(form) {
    var boxes = form.querySelectorAll("input[name=kasus]");
    if (!boxes.length) return;
    var label = document.createElement("label");
    label.className = "inline";
    var all = document.createElement("input");
    all.type = "checkbox";
    all.id = "pilih-semua";
    label.appendChild(all);
    label.appendChild(document.createTextNode(" Pilih semua (" + boxes.length + ")"));
    form.insertBefore(label, form.querySelector(".table-wrap") || form.firstChild);
    var chosen = form.querySelector("button[value=dipilih]");
    function count() { return [].filter.call(boxes, function (b) { return b.checked; }).length; }
    function update() { if (chosen) chosen.textContent = "Tandatangani yang dipilih (" + count() + ")"; }
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
    form.addEventListener("submit", function (e) {
      var every = e.submitter && e.submitter.value === "semua";
      var n = every ? boxes.length : count();
      if (n === 0) return; // the server says that nothing was chosen
      var expired = form.querySelectorAll("input[name=kasus][data-expired]" + (every ? "" : ":checked")).length;
      var msg = (every ? "Tandatangani semua dokumen yang siap (" + n + " di daftar ini)?" : "Tandatangani " + n + " dokumen yang dipilih?") +
        (expired ? "\n\nPerhatian: " + expired + " di antaranya untuk izin yang masa berlakunya sudah lewat." : "");
      if (!window.confirm(msg)) e.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var batch = document.getElementById("form-tandatangani");
    if (batch) batchForm(batch);
    document.querySelectorAll(".table-wrap table").forEach(labelCells);
    var runs = document.getElementById("runs");
    if (runs) watchSync(runs);
    var upload = document.getElementById("upload");
    if (upload) dropUpload(upload);
  });
})();
