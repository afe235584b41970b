// Gigafactory portal: live updates and followed logs through server-sent
// events. The pages work without it; it only keeps them current.
"use strict";

(function () {
  // A live page (main[data-live]) is re-rendered by the server whenever
  // what it shows changes: /events sends the new main part.
  var main = document.getElementById("main");
  if (main && main.dataset.live === "1" && window.EventSource) {
    var path = location.pathname + location.search;
    var es = new EventSource("/events?page=" + encodeURIComponent(path) + "&since=" + encodeURIComponent(main.dataset.digest || ""));
    es.addEventListener("page", function (ev) {
      // Never pull the page from under someone typing in a form.
      var a = document.activeElement;
      if (a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) return;
      // A followed log keeps its stream across updates.
      var keep = {};
      main.querySelectorAll("pre[data-follow]").forEach(function (pre) { keep[pre.dataset.follow] = pre; });
      main.innerHTML = ev.data;
      main.querySelectorAll("pre[data-follow]").forEach(function (pre) {
        var old = keep[pre.dataset.follow];
        if (old) pre.replaceWith(old);
      });
      wire(main);
      var st = document.getElementById("live-status");
      if (st) st.textContent = "Updated " + new Date().toLocaleTimeString();
    });
    es.addEventListener("gone", function () { es.close(); });
  }
  wire(document);

  function wire(root) {
    // Followed logs: pre[data-follow] gets each line as it is written.
    root.querySelectorAll("pre[data-follow]").forEach(function (pre) {
      if (pre.dataset.wired) return;
      pre.dataset.wired = "1";
      var es = new EventSource(pre.dataset.follow);
      es.onmessage = function (ev) {
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.appendChild(document.createTextNode(ev.data + "\n"));
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      };
      es.addEventListener("end", function (ev) {
        es.close();
        var st = document.getElementById(pre.id + "-status");
        if (st) st.textContent = ev.data || "The job has ended; the log is complete.";
      });
      es.onerror = function () { if (es.readyState === 2) es.close(); };
    });
    // Forms that do something irreversible ask first.
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      if (f.dataset.wired) return;
      f.dataset.wired = "1";
      f.addEventListener("submit", function (ev) {
        if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
      });
    });
  }
})();
