// renkei: upload with a progress bar. Without this script the upload
// form still works (a plain multipart POST); with it, the browser shows
// how far the upload is and stays on the page. No inline script, no
// external library (CSP default-src 'self').
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.upload").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = form.querySelector("input[type=file]");
      var bar = form.querySelector("progress");
      var text = form.querySelector(".progress-text");
      var max = Number(form.dataset.max || "0");
      var files = Array.prototype.slice.call(input.files || []);
      var total = files.reduce(function (a, f) { return a + f.size; }, 0);
      if (max > 0 && files.some(function (f) { return f.size > max; })) {
        text.textContent = "ファイルが大きすぎます (上限 " + max + " バイト) / File too large";
        return;
      }
      var data = new FormData(form);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", form.querySelector("input[name=csrf]").value);
      bar.hidden = false;
      bar.value = 0;
      xhr.upload.addEventListener("progress", function (e) {
        var of = e.lengthComputable ? e.total : total;
        if (of > 0) {
          bar.value = Math.floor((e.loaded / of) * 100);
          text.textContent = "送信中 / Uploading " + bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        var msg = "";
        try { msg = JSON.parse(xhr.responseText).message; } catch (e) { msg = xhr.statusText; }
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          text.textContent = msg;
          window.location.reload();
        } else {
          text.textContent = "送信できませんでした / Upload refused: " + msg;
        }
      });
      xhr.addEventListener("error", function () {
        text.textContent = "接続が切れました。何も保存されていません。 / The connection broke; nothing was kept.";
      });
      xhr.send(data);
    });
  });
});
