/* Archive upload: sends each chosen file in chunks (File.slice + fetch) to the JSON API's upload
   routes with the session's CSRF token, at the offset the server reports, so a dropped connection
   or a reloaded page goes on where it stopped (the server recognises the same file by its name,
   size and modification time). No inline script: the page loads this file. */
(function () {
  "use strict";
  var root = document.getElementById("archive-upload");
  if (!root) { return; }
  var input = document.getElementById("archive-files");
  var list = document.getElementById("upload-list");
  var ready = document.getElementById("uploaded-files");
  var form = document.getElementById("import-form");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var chunkSize = parseInt(root.dataset.chunkSize, 10);
  var maxBytes = parseInt(root.dataset.maxBytes, 10);
  var RETRIES = 5;

  document.querySelectorAll(".progress-bar[data-percent]").forEach(function (bar) {
    bar.style.width = bar.dataset.percent + "%";
  });

  function human(bytes) {
    var units = ["bytes", "KB", "MB", "GB"], i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  function row(name) {
    var item = document.createElement("li");
    item.className = "upload-row";
    item.innerHTML = '<div class="upload-head"><span class="upload-name"></span> <span class="upload-state small"></span></div>' +
      '<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="progress-bar"></div></div>' +
      '<div class="upload-detail small muted"></div>';
    item.querySelector(".upload-name").textContent = name;
    item.querySelector(".progress").setAttribute("aria-label", "Upload of " + name);
    list.appendChild(item);
    var bar = item.querySelector(".progress-bar"), meter = item.querySelector(".progress");
    var state = item.querySelector(".upload-state"), detail = item.querySelector(".upload-detail");
    return {
      element: item,
      progress: function (offset, size) {
        var percent = size ? Math.floor(100 * offset / size) : 100;
        bar.style.width = percent + "%";
        meter.setAttribute("aria-valuenow", String(percent));
        item.dataset.percent = String(percent);
        state.textContent = percent + "% · " + human(offset) + " of " + human(size);
      },
      say: function (text) { detail.textContent = text; },
      fail: function (text) {
        item.classList.add("upload-failed");
        bar.classList.add("failed");
        state.textContent = "✖ not uploaded";
        detail.textContent = text;
        detail.setAttribute("role", "alert");
      },
      done: function (text) {
        item.classList.add("upload-done");
        item.dataset.status = "complete";
        state.textContent = "✔ uploaded";
        detail.textContent = text;
      }
    };
  }

  function message(body, fallback) {
    var err = body && body.error;
    if (!err) { return fallback; }
    return err.message + (err.remediation ? " " + err.remediation : "");
  }

  function call(method, url, body, headers) {
    var all = { "X-CSRFToken": csrf, "Accept": "application/json" };
    Object.keys(headers || {}).forEach(function (key) { all[key] = headers[key]; });
    return fetch(url, { method: method, body: body, headers: all, credentials: "same-origin" }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        var offset = response.headers.get("Upload-Offset");
        return { ok: response.ok, status: response.status, body: json, offset: offset === null ? null : parseInt(offset, 10) };
      });
    });
  }

  function pause(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function addReady(upload) {
    var label = document.createElement("label");
    label.className = "check upload-ready";
    var box = document.createElement("input");
    box.type = "checkbox"; box.name = "upload"; box.value = upload.id; box.checked = true;
    var note = document.createElement("span");
    note.className = "small muted";
    note.textContent = upload.detail || human(upload.size);  // the detail names the size already
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + upload.filename + " "));
    label.appendChild(note);
    ready.appendChild(label);
    var old = document.querySelector('#unfinished-uploads [data-upload="' + upload.id + '"]');
    if (old) { old.remove(); }
  }

  async function send(file) {
    var view = row(file.name);
    if (file.size > maxBytes) {
      view.fail(file.name + " is " + human(file.size) + "; this hub accepts files up to " + human(maxBytes) + ".");
      return;
    }
    var created = await call("POST", root.dataset.createUrl, JSON.stringify({
      type: root.dataset.type,
      integration: root.dataset.integration ? parseInt(root.dataset.integration, 10) : null,
      filename: file.name, size: file.size, fingerprint: String(file.lastModified || "")
    }), { "Content-Type": "application/json" }).catch(function () { return null; });
    if (!created || !created.ok) {
      view.fail(message(created && created.body, "The server could not be reached; try again."));
      return;
    }
    var upload = created.body.upload, offset = upload.offset, failures = 0;
    if (created.body.resumed && offset) { view.say("Resuming from " + human(offset) + "."); }
    view.progress(offset, file.size);
    while (offset < file.size) {
      var end = Math.min(offset + chunkSize, file.size);
      var answer = await call("PUT", upload.links.self, file.slice(offset, end), {
        "Content-Type": "application/octet-stream",
        "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size
      }).catch(function () { return null; });
      if (answer && answer.ok) {
        upload = answer.body.upload; offset = upload.offset; failures = 0;
      } else if (answer && answer.status === 409 && answer.offset !== null && answer.body.error && answer.body.error.code === "offset_mismatch") {
        offset = answer.offset;  // out of step (a retried chunk had arrived): go on from the server's offset
      } else if (!answer || answer.status >= 500 || answer.status === 400 && answer.body.error && answer.body.error.code === "incomplete_chunk") {
        failures += 1;
        if (failures > RETRIES) {
          view.fail("The connection was lost at " + human(offset) + ". Choose the same file again to go on from there.");
          return;
        }
        view.say("Connection problem; trying again…");
        await pause(1000 * failures);
        var asked = await call("GET", upload.links.self).catch(function () { return null; });
        if (asked && asked.ok) { upload = asked.body.upload; offset = upload.offset; }
      } else {
        view.fail(message(answer.body, "The server refused this file."));
        return;
      }
      view.progress(offset, file.size);
    }
    if (upload.status === "rejected") {
      view.fail(upload.detail || "This is not the right export.");
      return;
    }
    view.done(upload.detail || "Ready to import.");
    addReady(upload);
  }

  async function sendChosen() {
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) { return; }
    input.disabled = true;
    for (var i = 0; i < files.length; i += 1) { await send(files[i]); }
    input.disabled = false;
    input.value = "";
  }

  input.addEventListener("change", sendChosen);
  // The script is deferred: on a slow connection a person can pick files before it runs, and no
  // change event comes for those.
  root.dataset.ready = "1";
  sendChosen();
})();
