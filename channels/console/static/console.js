// The staff console. Every piece of text goes in through textContent, never parsed as HTML.
"use strict";

(function () {
  const $ = function (id) { return document.getElementById(id); };
  const CHANNELS = { web: "网页", miniprogram: "小程序", wechat: "公众号", sms: "短信" };
  // what verification rests on: an ID number (实名), or only the phone an SMS came from
  const VERIFIED = { id_number: "已实名", phone: "手机号已验证（未实名）" };
  const STATUS = { waiting: "等待接入", claimed: "处理中", closed: "已结束" };
  const GIVEN = { hall: "大厅", date: "日期", period: "时段", time: "时间", receipt_no: "受理编号",
    phone: "手机号", id_last4: "身份证后四位" };
  let me = null;
  const el = consolePage.el;
  const call = consolePage.caller(function () { return me; }, signedOut);
  let socket = null;
  let current = null; // the open conversation: {card, messages}
  let shown = new Set(); // transcript ids on screen
  let conversations = [];

  function post(url, body) { return call(url, { method: "POST", body: JSON.stringify(body || {}) }); }

  function waited(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "秒";
    const m = Math.floor(seconds / 60);
    if (m < 60) return m + "分" + (seconds % 60) + "秒";
    return Math.floor(m / 60) + "小时" + (m % 60) + "分";
  }

  function clock(iso) {
    const d = new Date(iso);
    return d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  // ------------------------------------------------------------------ sign-in

  function signedOut() {
    me = null;
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    $("desk").hidden = true;
    $("who").hidden = true;
    $("signin-view").hidden = false;
    document.body.dataset.ready = "1";
    $("username").focus();
  }

  function signedIn(person) {
    me = person;
    $("signin-view").hidden = true;
    $("desk").hidden = false;
    $("who").hidden = false;
    $("who-name").textContent = person.display_name + "（" + person.username + "）";
    $("who-role").textContent = person.supervisor ? "值班主管" : "工作人员";
    $("figures-button").hidden = !person.supervisor;
    $("questions-link").hidden = !person.supervisor;
    $("kb-link").hidden = !person.supervisor;
    const canned = $("canned");
    canned.replaceChildren(el("option", null, "常用回复…"));
    canned.firstChild.value = "";
    (person.canned_replies || []).forEach(function (text) {
      const option = el("option", null, text.length > 18 ? text.slice(0, 18) + "…" : text);
      option.value = text;
      canned.appendChild(option);
    });
    connect();
    loadQueue().finally(function () { document.body.dataset.ready = "1"; });
  }

  $("signin").addEventListener("submit", async function (event) {
    event.preventDefault();
    $("signin-error").textContent = "";
    $("signin-button").disabled = true;
    try {
      const person = await post("/console/api/sign-in", { username: $("username").value, password: $("password").value });
      $("password").value = "";
      signedIn(person);
    } catch (error) {
      $("signin-error").textContent = error.message;
    } finally {
      $("signin-button").disabled = false;
    }
  });

  $("signout").addEventListener("click", async function () {
    try { await post("/console/api/sign-out"); } catch (e) { /* signed out anyway */ }
    current = null;
    signedOut();
  });

  // ------------------------------------------------------------------ live updates

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/console/ws");
    socket.onmessage = function (event) {
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "queue") {
        loadQueue();
        if (current) refreshCard();
      } else if (data.type === "message") {
        onMessage(data.message);
      }
    };
    socket.onclose = function () {
      socket = null;
      if (me) setTimeout(function () { if (me && !socket) connect(); }, 2000);
    };
  }

  function onMessage(message) {
    if (current && message.resident_id === current.card.resident_id) {
      addLine(message);
      if (message.role === "resident" && message.text.indexOf("〔上传材料〕") === 0) refreshCard(); // a new pre-check
    }
    const row = conversations.find(function (c) { return c.resident_id === message.resident_id; });
    if (row && message.role === "resident") {
      row.last_message = message.text;
      renderQueue();
    }
  }

  // ------------------------------------------------------------------ the queue

  async function loadAlerts() {
    try {
      const body = await call("/console/api/alerts");
      const list = $("alerts");
      list.textContent = "";
      (body.alerts || []).forEach(function (a) {
        list.appendChild(el("li", "alert", a.text + (a.hall ? "（" + a.hall + "）" : "")));
      });
      list.hidden = !(body.alerts || []).length;
    } catch (e) { /* alerts are advisory; the queue still works */ }
  }

  async function loadQueue() {
    loadAlerts();
    try {
      const body = await call("/console/api/queue");
      conversations = body.conversations || [];
      renderFilter();
      renderQueue();
    } catch (error) { /* shown on the next refresh */ }
  }

  function renderFilter() {
    const select = $("queue-filter");
    const chosen = select.value || (me && me.hall ? "hall:" + me.hall : "");
    const options = [["", "全部大厅和部门"]];
    const halls = new Set(conversations.map(function (c) { return c.hall; }).filter(Boolean));
    const departments = new Set(conversations.map(function (c) { return c.department; }).filter(Boolean));
    if (me && me.hall) halls.add(me.hall);
    if (me && me.department) departments.add(me.department);
    halls.forEach(function (h) { options.push(["hall:" + h, "大厅：" + h]); });
    departments.forEach(function (d) { options.push(["department:" + d, "部门：" + d]); });
    select.replaceChildren();
    options.forEach(function (pair) {
      const option = el("option", null, pair[1]);
      option.value = pair[0];
      select.appendChild(option);
    });
    select.value = options.some(function (p) { return p[0] === chosen; }) ? chosen : "";
  }
  $("queue-filter").addEventListener("change", renderQueue);

  function visible(c) {
    const filter = $("queue-filter").value;
    if (!filter) return true;
    const kind = filter.slice(0, filter.indexOf(":"));
    const value = filter.slice(filter.indexOf(":") + 1);
    const mine = kind === "hall" ? c.hall : c.department;
    return !mine || mine === value;
  }

  function renderQueue() {
    const list = $("queue");
    const rows = conversations.filter(visible);
    list.replaceChildren();
    rows.forEach(function (c) {
      const item = el("li", "queue-item" + (current && current.card.handoff_id === c.handoff_id ? " active" : ""));
      item.dataset.id = c.handoff_id;
      item.dataset.status = c.status;
      const top = el("div", "qi-top");
      top.appendChild(el("span", "qi-name", c.resident.name || "访客"));
      const wait = el("span", "qi-wait", "");
      wait.dataset.created = c.created_at;
      wait.dataset.claimed = c.claimed_at || "";
      top.appendChild(wait);
      item.appendChild(top);
      const tags = el("div");
      tags.appendChild(el("span", "tag " + c.status, c.status === "claimed" ? "处理中 · " + c.staff : STATUS[c.status]));
      tags.appendChild(el("span", "tag", CHANNELS[c.channel] || c.channel));
      if (c.elderly) tags.appendChild(el("span", "tag elderly", "长者"));
      item.appendChild(tags);
      item.appendChild(el("div", "qi-meta", [c.reason, c.item && c.item.name, c.hall].filter(Boolean).join(" · ")));
      if (c.last_message) item.appendChild(el("div", "qi-last", "“" + c.last_message + "”"));
      item.addEventListener("click", function () { open(c.handoff_id); });
      list.appendChild(item);
    });
    $("queue-count").textContent = String(rows.filter(function (c) { return c.status === "waiting"; }).length);
    $("queue-empty").hidden = rows.length > 0;
    tick();
  }

  function tick() {
    document.querySelectorAll(".qi-wait").forEach(function (node) {
      const start = Date.parse(node.dataset.created);
      const end = node.dataset.claimed ? Date.parse(node.dataset.claimed) : Date.now();
      const seconds = (end - start) / 1000;
      node.textContent = (node.dataset.claimed ? "等了" : "已等待 ") + waited(seconds);
      node.classList.toggle("long", !node.dataset.claimed && seconds > 180);
    });
  }
  setInterval(tick, 1000);
  setInterval(function () { if (me) loadQueue(); }, 15000);

  // ------------------------------------------------------------------ a conversation

  async function open(handoffId) {
    try {
      const body = await call("/console/api/conversations/" + handoffId);
      current = body;
      shown = new Set();
      $("placeholder").hidden = true;
      $("conv").hidden = false;
      $("transcript").replaceChildren();
      renderCard();
      body.messages.forEach(addLine);
      renderQueue();
    } catch (error) {
      note(error.message);
    }
  }

  async function refreshCard() {
    try {
      const body = await call("/console/api/conversations/" + current.card.handoff_id);
      current.card = body.card;
      renderCard();
      body.messages.forEach(addLine);
    } catch (error) { /* keep what is shown */ }
  }

  function field(list, label, value, className) {
    if (value === undefined || value === null || value === "") return;
    const wrap = el("div");
    wrap.appendChild(el("dt", null, label));
    wrap.appendChild(el("dd", className || null, value));
    list.appendChild(wrap);
  }

  function renderCard(revealed) {
    const c = current.card;
    const card = $("card");
    card.replaceChildren();
    const title = el("h3", null, "转人工原因：" + c.reason);
    title.appendChild(el("span", "tag " + c.status, c.status === "claimed" ? "处理中 · " + c.staff : STATUS[c.status]));
    if (c.elderly) title.appendChild(el("span", "tag elderly", "长者模式"));
    card.appendChild(title);
    const list = el("dl");
    field(list, "事项", c.item ? c.item.name + "（" + c.item.code + "）" : "未确定");
    field(list, "部门", c.department);
    field(list, "大厅", c.hall || "未确定");
    field(list, "渠道", CHANNELS[c.channel] || c.channel);
    const person = revealed || c.resident;
    const cls = revealed ? "revealed" : null;
    field(list, "姓名", person.name || "—", cls);
    field(list, "手机号", person.phone || "—", cls);
    field(list, "身份证号", person.id_number || "—", cls);
    field(list, "实名认证", VERIFIED[c.verified_by] || "未实名");
    Object.keys(c.given || {}).forEach(function (key) {
      field(list, "已提供" + (GIVEN[key] || key), key === "phone" && revealed && revealed.given_phone ? revealed.given_phone : c.given[key]);
    });
    field(list, "等待时长", waited(c.waited_s) + (c.claimed_at ? "（已接入）" : ""));
    card.appendChild(list);
    renderReview(card, c.review);
    renderForms(card, c.forms);

    const mine = c.status === "claimed" && c.staff === me.username;
    $("claim").hidden = c.status !== "waiting";
    $("hand-back").disabled = c.status === "closed" || (c.status === "claimed" && !mine && !me.supervisor);
    $("close").disabled = $("hand-back").disabled;
    $("reveal").hidden = !me.supervisor;
    $("send-reply").disabled = !mine;
    $("reply-text").placeholder = mine ? "输入回复内容，发送给居民；或写内部备注" : "接入后才能回复居民；内部备注随时可写";
  }

  // The resident's confirmed pre-filled forms: print opens while this member holds the handoff.
  function renderForms(card, forms) {
    if (!forms || !forms.length) return;
    const box = el("section", "forms");
    box.appendChild(el("h4", null, "居民预填的申请表"));
    const list = el("ul");
    forms.forEach(function (f) {
      const item = el("li", null, f.title + "（预填编号 " + f.reference + "，" + clock(f.at) + "）");
      const open = el("a", "print-form", "打印");
      open.href = f.url;
      open.target = "_blank";
      open.rel = "noopener";
      open.title = "接入本会话后可打印，打印将记入审计日志";
      item.appendChild(open);
      list.appendChild(item);
    });
    box.appendChild(list);
    card.appendChild(box);
  }

  // The material pre-check: each material's verdict, then every upload with a link to open it
  // (opening is audit-logged). It assists; staff decide.
  const VERDICT = { present: "已收到", missing: "未收到", problem: "需核对" };
  function renderReview(card, review) {
    if (!review || !review.uploads.length) return; // nothing sent: nothing to pre-check
    const box = el("section", "review");
    box.appendChild(el("h4", null, "材料预审（" + review.note + "）"));
    const verdicts = el("ul", "verdicts");
    review.materials.filter(function (m) { return m.required || m.uploads.length; }).forEach(function (m) {
      const item = el("li", "verdict " + m.status);
      item.appendChild(el("span", "tag " + m.status, VERDICT[m.status] || m.status));
      item.appendChild(el("span", null, m.material + (m.reasons.length ? "：" + m.reasons.join("；") : "")));
      verdicts.appendChild(item);
    });
    box.appendChild(verdicts);
    const files = el("ol", "uploads");
    review.uploads.forEach(function (u) {
      const item = el("li");
      const facts = [];
      if (u.facts.valid_until) facts.push("有效期至 " + u.facts.valid_until);
      if (u.facts.name) facts.push("姓名 " + u.facts.name + (u.facts.name_matches === false ? "（与申请人不一致）" : ""));
      if (u.facts.id_number) facts.push("证号 " + u.facts.id_number);
      item.appendChild(el("span", null, clock(u.at) + " " + (u.kind_name || (u.status === "unavailable" ? "未自动识别" : "未识别的文件")) +
        (u.material ? " → " + u.material : "") + (facts.length ? "，" + facts.join("，") : "") +
        (u.problems.length ? "；" + u.problems.join("；") : "")));
      const open = el("a", "open-upload", "查看原件");
      open.href = u.url;
      open.target = "_blank";
      open.rel = "noopener";
      open.title = "查看将记入审计日志";
      item.appendChild(open);
      files.appendChild(item);
    });
    box.appendChild(files);
    card.appendChild(box);
  }

  function addLine(m) {
    if (shown.has(m.id)) return;
    shown.add(m.id);
    const item = el("li", "msg " + m.role);
    item.dataset.id = m.id;
    const who = el("div", "who", m.role_label + (m.staff && (m.role === "staff" || m.role === "note") ? " · " + (m.staff_name || m.staff) : "") + " · " + clock(m.at));
    item.appendChild(who);
    if (m.audio) {
      const audio = el("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = m.audio;
      item.appendChild(audio);
    }
    item.appendChild(el("div", "text", (m.audio ? "🎤 " : "") + m.text));
    if (m.delivered === false) item.appendChild(el("span", "undelivered", "未送达（居民当前无法接收，已保存）"));
    $("transcript").appendChild(item);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function note(text) {
    $("action-note").textContent = text;
    setTimeout(function () { if ($("action-note").textContent === text) $("action-note").textContent = ""; }, 5000);
  }

  async function act(action, confirmText) {
    if (!current) return;
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      await post("/console/api/conversations/" + current.card.handoff_id + "/" + action);
      await refreshCard();
      loadQueue();
    } catch (error) {
      note(error.message);
      refreshCard();
    }
  }

  $("claim").addEventListener("click", function () { act("claim"); });
  $("hand-back").addEventListener("click", function () { act("hand-back"); });
  $("close").addEventListener("click", function () { act("close"); });
  $("reveal").addEventListener("click", async function () {
    if (!current || !window.confirm("查看居民完整个人信息将记入审计日志，确定查看吗？")) return;
    try {
      const body = await post("/console/api/conversations/" + current.card.handoff_id + "/reveal");
      renderCard(body.resident);
    } catch (error) { note(error.message); }
  });

  $("canned").addEventListener("change", function () {
    if ($("canned").value) $("reply-text").value = $("canned").value;
    $("canned").value = "";
    $("reply-text").focus();
  });

  async function write(kind) {
    const text = $("reply-text").value.trim();
    if (!text || !current) return;
    try {
      const body = await post("/console/api/conversations/" + current.card.handoff_id + "/" + kind, { text: text });
      $("reply-text").value = "";
      addLine(body.message);
    } catch (error) { note(error.message); }
  }
  $("composer").addEventListener("submit", function (event) { event.preventDefault(); write("reply"); });
  $("send-note").addEventListener("click", function () { write("note"); });

  // ------------------------------------------------------------------ supervisor figures

  $("figures-button").addEventListener("click", async function () {
    try {
      const f = await call("/console/api/figures");
      const body = $("figures-body");
      body.replaceChildren();
      const grid = el("div", "figures");
      [["今日转人工", f.handed_off], ["已接入", f.claimed],
        ["接入等待中位数", f.median_wait_s === null ? "—" : waited(f.median_wait_s)]].forEach(function (pair) {
        const box = el("div", "figure");
        box.appendChild(el("b", null, pair[1]));
        box.appendChild(el("span", null, pair[0]));
        grid.appendChild(box);
      });
      body.appendChild(grid);
      body.appendChild(el("h3", null, "按原因"));
      const reasons = el("ul", "reasons");
      Object.keys(f.by_reason).forEach(function (reason) { reasons.appendChild(el("li", null, reason + "：" + f.by_reason[reason])); });
      body.appendChild(reasons);
      $("figures").hidden = false;
    } catch (error) { note(error.message); }
  });
  $("figures-close").addEventListener("click", function () { $("figures").hidden = true; });

  // ------------------------------------------------------------------ start

  call("/console/api/me").then(signedIn).catch(signedOut);
})();
