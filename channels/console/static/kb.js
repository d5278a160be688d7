// Supervisors' knowledge base: upload FAQ sheets and policy documents, list and remove them.
// Every piece of text goes in through textContent, never parsed as HTML.
"use strict";

(function () {
  const $ = function (id) { return document.getElementById(id); };
  let me = null;
  const el = consolePage.el;
  const call = consolePage.caller(function () { return me; });
  const refuse = consolePage.refuse;

  function render(body) {
    const files = $("files");
    files.replaceChildren();
    let entries = 0;
    body.files.forEach(function (file) {
      entries += file.entries;
      const tr = el("tr");
      tr.appendChild(el("td", "text", file.name));
      tr.appendChild(el("td", null, file.kind));
      tr.appendChild(el("td", null, file.entries));
      tr.appendChild(el("td", null, file.imported_at.slice(0, 16).replace("T", " ")));
      const action = el("td");
      const button = el("button", null, "删除");
      button.type = "button";
      button.addEventListener("click", async function () {
        if (!window.confirm("从知识库删除 " + file.name + " 的全部 " + file.entries + " 条？")) return;
        button.disabled = true;
        try {
          await call("/console/api/kb/remove", { method: "POST", body: JSON.stringify({ name: file.name }) });
          await load();
        } catch (error) {
          button.disabled = false;
          $("summary").textContent = error.message;
        }
      });
      action.appendChild(button);
      tr.appendChild(action);
      files.appendChild(tr);
    });
    $("files-empty").hidden = body.files.length > 0;
    $("summary").textContent = "共 " + body.files.length + " 个文件，" + entries + " 条";
  }

  async function load() {
    try {
      render(await call("/console/api/kb"));
      $("report").hidden = false;
      document.body.dataset.ready = "1";
    } catch (error) {
      if (error.status === 401 || error.status === 403) refuse("需要值班主管权限", error.message);
      else $("summary").textContent = error.message;
      document.body.dataset.ready = "1";
    }
  }

  async function upload(event) {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file, file.name);
    $("upload-button").disabled = true;
    $("upload-status").textContent = "正在导入…";
    const errors = $("upload-errors");
    errors.replaceChildren();
    try {
      const report = await call("/console/api/kb", { method: "POST", body: form });
      $("upload-status").textContent = report.name + "：新增 " + report.added + " 条，更新 " + report.changed +
        " 条，未变 " + report.unchanged + " 条，删除 " + report.removed + " 条，出错 " + report.error_count + " 行";
      report.errors.forEach(function (problem) {
        errors.appendChild(el("li", "failed", "第 " + problem.line + " 行（页）：" + problem.message));
      });
      await load();
    } catch (error) {
      $("upload-status").textContent = error.message;
    } finally {
      $("upload-button").disabled = false;
    }
  }

  async function start() {
    try {
      me = await call("/console/api/me");
    } catch (error) {
      refuse("请先登录", "请先在工作台登录，再打开知识库。");
      return;
    }
    if (!me.supervisor) {
      refuse("需要值班主管权限", "知识库只对值班主管开放。");
      return;
    }
    $("upload-form").addEventListener("submit", upload);
    await load();
  }

  start();
})();
