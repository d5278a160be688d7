// Supervisors' question review: the week's hot items and the questions tongban could not place.
// Every piece of text goes in through textContent, never parsed as HTML.
"use strict";

(function () {
  const $ = function (id) { return document.getElementById(id); };
  const KINDS = { low_confidence: "没把握", rephrased: "换说法重问", asked_person: "要求转人工",
    kb_miss: "知识库没有可靠答案" };
  let me = null;
  const el = consolePage.el;
  const call = consolePage.caller(function () { return me; });
  const refuse = consolePage.refuse;
  let items = [];

  function keywordForm(question) {
    const form = el("form", "keyword");
    const phrase = el("input");
    phrase.value = question.text.slice(0, 50);
    phrase.maxLength = 50;
    phrase.setAttribute("aria-label", "关键词");
    const select = el("select");
    select.setAttribute("aria-label", "事项");
    select.appendChild(el("option", null, "选择事项…"));
    select.firstChild.value = "";
    items.forEach(function (item) {
      const option = el("option", null, item.name);
      option.value = item.code;
      if (question.guess === item.name) option.selected = true;
      select.appendChild(option);
    });
    const button = el("button", null, "加为关键词");
    button.type = "submit";
    const note = el("span", "note");
    note.setAttribute("role", "status");
    form.append(phrase, select, button, note);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!select.value) { note.className = "failed"; note.textContent = "请先选择事项"; return; }
      button.disabled = true;
      try {
        const saved = await call("/console/api/questions/keyword", {
          method: "POST", body: JSON.stringify({ item_code: select.value, phrase: phrase.value }),
        });
        note.className = "done";
        note.textContent = "已加入「" + saved.item.name + "」，检索已更新";
        loadLearned();
      } catch (error) {
        note.className = "failed";
        note.textContent = error.message;
        button.disabled = false;
      }
    });
    return form;
  }

  function render(report) {
    items = report.items || [];
    $("summary").textContent = report.week + " 这一周共记录 " + report.asked + " 次提问";
    const topics = $("topics");
    topics.replaceChildren();
    report.topics.forEach(function (topic) {
      const li = el("li", null, topic.name);
      li.appendChild(el("span", "n", topic.count + " 次"));
      topics.appendChild(li);
    });
    $("topics-empty").hidden = report.topics.length > 0;
    const body = $("unplaced");
    body.replaceChildren();
    report.unplaced.forEach(function (question) {
      const tr = el("tr");
      const text = el("td", "text", question.text);
      if (question.guess) text.appendChild(el("div", "guess", "助手猜测：" + question.guess));
      tr.appendChild(text);
      tr.appendChild(el("td", null, question.count));
      tr.appendChild(el("td", null, question.askers));
      tr.appendChild(el("td", null, question.kinds.map(function (k) { return KINDS[k] || k; }).join("、")));
      const action = el("td");
      action.appendChild(keywordForm(question));
      tr.appendChild(action);
      body.appendChild(tr);
    });
    $("unplaced-empty").hidden = report.unplaced.length > 0;
  }

  function source(entry) {
    if (entry.source && entry.source.indexOf("handoff:") === 0) return "转人工对话纠正 #" + entry.source.slice(8);
    return "问题分析";
  }

  async function loadLearned() {
    const body = $("learned");
    const data = await call("/console/api/learned");
    body.replaceChildren();
    data.learned.forEach(function (entry) {
      const tr = el("tr");
      tr.appendChild(el("td", "text", entry.phrase));
      tr.appendChild(el("td", null, entry.item_name));
      tr.appendChild(el("td", null, source(entry)));
      tr.appendChild(el("td", null, entry.by));
      tr.appendChild(el("td", null, entry.at.slice(0, 16).replace("T", " ")));
      const action = el("td");
      const remove = el("button", "remove", "删除");
      remove.type = "button";
      remove.addEventListener("click", async function () {
        remove.disabled = true;
        try {
          await call("/console/api/learned/remove", {
            method: "POST", body: JSON.stringify({ item_code: entry.item_code, phrase: entry.phrase }),
          });
          await loadLearned();
        } catch (error) {
          remove.disabled = false;
          remove.textContent = error.message;
        }
      });
      action.appendChild(remove);
      tr.appendChild(action);
      body.appendChild(tr);
    });
    $("learned-empty").hidden = data.learned.length > 0;
  }

  // Without a week the server answers for its own "this week" (its clock, not the browser's).
  async function load(week) {
    try {
      const report = await call("/console/api/questions" + (week ? "?week=" + encodeURIComponent(week) : ""));
      if (!week) $("week").value = report.week;
      render(report);
      await loadLearned();
      $("report").hidden = false;
      document.body.dataset.ready = "1";
    } catch (error) {
      if (error.status === 401 || error.status === 403) refuse("需要值班主管权限", error.message);
      else $("summary").textContent = error.message;
      document.body.dataset.ready = "1";
    }
  }

  async function start() {
    try {
      me = await call("/console/api/me");
    } catch (error) {
      refuse("请先登录", "请先在工作台登录，再打开问题分析。");
      return;
    }
    if (!me.supervisor) {
      refuse("需要值班主管权限", "问题分析只对值班主管开放。");
      return;
    }
    $("week-form").addEventListener("submit", function (event) {
      event.preventDefault();
      load($("week").value);
    });
    await load(null);
  }

  start();
})();
