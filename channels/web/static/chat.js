// The resident web chat. Every piece of text goes in through textContent, never parsed as HTML.
"use strict";

(function () {
  const log = document.getElementById("log");
  const chips = document.getElementById("chips");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  const voiceButton = document.getElementById("voice");
  const voiceFile = document.getElementById("voice-file");
  const attachButton = document.getElementById("attach");
  const materialFile = document.getElementById("material-file");
  const MATERIAL_STATUS = { present: "已收到", missing: "未收到", problem: "需核对" };
  const fontToggle = document.getElementById("font-toggle");
  const HEADERS = { "X-Requested-With": "XMLHttpRequest" };
  const WELCOME = {
    text: "您好！我是通办政务服务助手，可以帮您查询办事指南（材料、流程、收费、地点）、预约政务服务中心、查询办件进度。请问您想办什么事？",
    quick_replies: ["身份证到期了怎么换", "预约办理", "查询办件进度"],
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function row(who) {
    const r = el("div", "row " + who);
    r.appendChild(el("div", "avatar", who === "me" ? "我" : "办"));
    const stack = el("div", "stack");
    r.appendChild(stack);
    log.appendChild(r);
    return stack;
  }

  function addMine(text) {
    const stack = row("me");
    stack.appendChild(el("div", "bubble", text));
    scrollDown();
  }

  function addSystem(text) {
    const stack = row("bot");
    const bubble = el("div", "bubble system", text);
    stack.appendChild(bubble);
    scrollDown();
    return bubble;
  }

  // While staff hold the conversation the bot answers nothing: the page shows no bot bubble.
  let withStaff = false;

  function addBot(reply) {
    if (!reply.text && reply.handoff && withStaff) return;
    withStaff = !!reply.handoff;
    const stack = row("bot");
    const tags = el("div", "tags");
    tags.appendChild(el("span", "tag", "智能助手"));
    if (reply.ai_generated) tags.appendChild(el("span", "tag ai", "AI生成"));
    stack.appendChild(tags);
    if (reply.text) {
      const bubble = el("div", "bubble", reply.text);
      if (reply.ai_generated) bubble.appendChild(el("span", "ai-note", reply.ai_label || "（本回复由AI生成，仅供参考）"));
      stack.appendChild(bubble);
    } else if (reply.handoff) {
      stack.appendChild(el("div", "bubble system", "已为您转接人工服务，工作人员会尽快回复您。"));
    }
    (reply.cards || []).forEach(function (card) {
      const node = renderCard(card);
      if (node) stack.appendChild(node);
    });
    setChips(reply.quick_replies || []);
    scrollDown();
  }

  function addStaff(event) {
    const stack = row("staff");
    stack.parentNode.querySelector(".avatar").textContent = "人";
    const tags = el("div", "tags");
    tags.appendChild(el("span", "tag staff", "工作人员" + (event.staff_name ? " · " + event.staff_name : "")));
    stack.appendChild(tags);
    stack.appendChild(el("div", "bubble", event.text));
    scrollDown();
  }

  // Staff messages and notices arrive unasked, on a socket the page keeps open (any replica:
  // what staff wrote while it was closed comes when it opens); without WebSocket, by polling.
  const shown = new Set();
  function show(event) {
    if (!event || event.type !== "message" || !event.text) return;
    if (event.id) { if (shown.has(event.id)) return; shown.add(event.id); }
    if (event.status) withStaff = event.status !== "closed";
    if (event.role === "staff") addStaff(event);
    else addSystem(event.text);
  }

  function poll() {
    fetch("/api/web/live/pending", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
      .then(function (body) { (body.messages || []).forEach(show); })
      .catch(function () {})
      .finally(function () { setTimeout(poll, 5000); });
  }

  function listen(delay) {
    if (!window.WebSocket) { poll(); return; }
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/api/web/live");
    socket.addEventListener("open", function () { delay = 1000; document.body.dataset.live = "1"; });
    socket.addEventListener("message", function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      show(event);
    });
    socket.addEventListener("close", function () {
      document.body.dataset.live = "0";
      setTimeout(function () { listen(Math.min(delay * 2, 30000)); }, delay);
    });
  }

  function field(list, label, value) {
    if (value === undefined || value === null || value === "") return;
    list.appendChild(el("dt", null, label));
    list.appendChild(el("dd", null, value));
  }

  function renderCard(card) {
    if (!card || typeof card !== "object") return null;
    const node = el("section", "card " + (card.type || ""));
    const list = el("dl");
    if (card.type === "item") {
      node.appendChild(el("h3", null, card.name));
      node.appendChild(el("div", "meta", [card.department, card.code].filter(Boolean).join(" · ")));
      if (Array.isArray(card.materials) && card.materials.length) {
        list.appendChild(el("dt", null, "材料"));
        const dd = el("dd");
        const ul = el("ul");
        card.materials.slice(0, 6).forEach(function (m) { ul.appendChild(el("li", null, m)); });
        dd.appendChild(ul);
        list.appendChild(dd);
      }
      field(list, "收费", card.fee);
    } else if (card.type === "appointment") {
      node.appendChild(el("h3", null, "预约成功 · " + (card.item || "")));
      field(list, "日期", [card.date, card.period, [card.start, card.end].filter(Boolean).join("-")].filter(Boolean).join(" "));
      field(list, "地点", card.hall);
      if (card.confirmation_code) {
        list.appendChild(el("dt", null, "预约码"));
        list.appendChild(el("dd", "code", card.confirmation_code));
      }
    } else if (card.type === "review") {
      // the material pre-check: one row per material, for reference only (staff decide)
      node.appendChild(el("h3", null, "材料预审" + (card.item ? " · " + card.item : "")));
      (card.materials || []).filter(function (m) { return m.required || m.uploads.length; }).forEach(function (m) {
        list.appendChild(el("dt", "status " + m.status, MATERIAL_STATUS[m.status] || m.status));
        list.appendChild(el("dd", null, m.material + (m.reasons && m.reasons.length ? "：" + m.reasons.join("；") : "")));
      });
      node.appendChild(list);
      node.appendChild(el("div", "meta", "自动预审，仅供参考，以工作人员审核为准"));
      return node;
    } else if (card.type === "form") {
      // the pre-filled application form: opens only with this chat's cookie (its owner)
      node.appendChild(el("h3", null, card.title || "申请表"));
      const link = el("a", "download", "下载打印申请表（PDF）");
      if (typeof card.url === "string" && card.url.indexOf("/forms/") === 0) link.href = card.url;
      link.target = "_blank";
      link.rel = "noopener";
      node.appendChild(link);
      node.appendChild(el("div", "meta", "请核对后签字，连同材料带到窗口提交"));
      return node;
    } else if (card.type === "progress") {
      node.appendChild(el("h3", null, card.item || "办件进度"));
      field(list, "受理编号", card.receipt_no);
      field(list, "办理地点", card.hall);
      field(list, "当前状态", card.status);
    } else {
      return null;
    }
    node.appendChild(list);
    return node;
  }

  function setChips(options) {
    chips.replaceChildren();
    options.slice(0, 6).forEach(function (option) {
      const chip = el("button", "chip", option);
      chip.type = "button";
      chip.addEventListener("click", function () { ask(option); });
      chips.appendChild(chip);
    });
  }

  function typing() {
    const stack = row("bot");
    stack.appendChild(el("div", "bubble typing", "正在查询…"));
    scrollDown();
    return stack.parentNode;
  }

  async function call(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      throw new Error((body && body.message) || "服务暂时不可用，请稍后再试");
    }
    return body;
  }

  let busy = false;
  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    voiceButton.disabled = value;
    attachButton.disabled = value;
  }

  async function ask(text) {
    text = (text || "").trim();
    if (!text || busy) return;
    addMine(text);
    setChips([]);
    setBusy(true);
    const pending = typing();
    try {
      const reply = await call("/api/web/messages", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, HEADERS),
        body: JSON.stringify({ text: text }),
      });
      pending.remove();
      addBot(reply);
      // 长者模式 turned on or off in words: the page follows with large print
      if (typeof reply.elderly === "boolean" && reply.elderly !== large) setLarge(reply.elderly, false);
    } catch (error) {
      pending.remove();
      addSystem(error.message);
    } finally {
      setBusy(false);
      input.focus();
    }
  }

  async function upload(blob, name, format) {
    if (busy) return;
    setBusy(true);
    const pending = typing();
    const data = new FormData();
    data.append("format", format);
    data.append("file", blob, name);
    try {
      const reply = await call("/api/web/voice", { method: "POST", headers: HEADERS, body: data });
      pending.remove();
      if (reply.heard) addMine("🎤 " + reply.heard);
      addBot(reply);
    } catch (error) {
      pending.remove();
      addSystem(error.message);
    } finally {
      setBusy(false);
    }
  }

  function formatOf(type, name) {
    const known = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
      "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "audio/aac": "aac",
      "audio/amr": "amr" };
    const base = (type || "").split(";")[0];
    if (known[base]) return known[base];
    const dot = (name || "").lastIndexOf(".");
    return dot >= 0 ? name.slice(dot + 1).toLowerCase() : "";
  }

  // Voice: record with MediaRecorder where the browser allows it, else choose a recording file.
  let recorder = null;
  async function toggleRecording() {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      voiceFile.click();
      return;
    }
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", function (event) { if (event.data.size) parts.push(event.data); });
    recorder.addEventListener("stop", function () {
      const type = recorder.mimeType || "audio/webm";
      stream.getTracks().forEach(function (t) { t.stop(); });
      recorder = null;
      voiceButton.classList.remove("recording");
      voiceButton.querySelector(".voice-label").textContent = "语音";
      const format = formatOf(type, "") || "webm";
      upload(new Blob(parts, { type: type }), "voice." + format, format);
    });
    recorder.start();
    voiceButton.classList.add("recording");
    voiceButton.querySelector(".voice-label").textContent = "停止";
  }

  voiceButton.addEventListener("click", function () {
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder) {
      toggleRecording();
    } else {
      voiceFile.click();
    }
  });
  voiceFile.addEventListener("change", function () {
    const file = voiceFile.files && voiceFile.files[0];
    voiceFile.value = "";
    if (file) upload(file, file.name, formatOf(file.type, file.name));
  });

  // Materials: a photo or PDF goes to /api/web/upload and comes back reviewed, item by item.
  const MATERIAL_LIMIT = 8 * 1024 * 1024;
  async function sendMaterial(file) {
    if (busy) return;
    if (file.size > MATERIAL_LIMIT) {
      addSystem("文件太大，请不要超过 8 MB");
      return;
    }
    addMine("上传材料（" + (file.type === "application/pdf" ? "PDF" : "图片") + "）：" + file.name);
    setBusy(true);
    const pending = typing();
    const data = new FormData();
    data.append("file", file, file.name);
    try {
      const reply = await call("/api/web/upload", { method: "POST", headers: HEADERS, body: data });
      pending.remove();
      addBot(reply);
    } catch (error) {
      pending.remove();
      addSystem(error.message);
    } finally {
      setBusy(false);
    }
  }
  attachButton.addEventListener("click", function () { materialFile.click(); });
  materialFile.addEventListener("change", function () {
    const file = materialFile.files && materialFile.files[0];
    materialFile.value = "";
    if (file) sendMaterial(file);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    ask(text);
  });

  // 大字: a larger font for older residents, remembered on this device; the switch also tells
  // the server, which turns 长者模式 on or off (short replies, numbered choices) for this resident.
  function applyLarge(large) {
    document.documentElement.classList.toggle("large", large);
    fontToggle.setAttribute("aria-pressed", large ? "true" : "false");
  }
  let large = false;
  try { large = localStorage.getItem("tongban-large") === "1"; } catch (e) { large = false; }
  applyLarge(large);
  function setLarge(value, tell) {
    large = value;
    applyLarge(large);
    try { localStorage.setItem("tongban-large", large ? "1" : "0"); } catch (e) { /* private mode */ }
    if (!tell) return;
    call("/api/web/preferences", {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, HEADERS),
      body: JSON.stringify({ elderly: large }),
    }).catch(function () { /* the font changed anyway; the server hears it next time */ });
  }
  fontToggle.addEventListener("click", function () { setLarge(!large, true); });

  // A server that has just started loads its models and index in the background: say so,
  // with its estimate, and let the resident type once it is ready.
  async function waitUntilReady() {
    let notice = null;
    for (;;) {
      let body = null;
      try {
        const response = await fetch("/readyz", { cache: "no-store" });
        body = await response.json();
      } catch (e) { body = null; }
      if (body && body.ready) {
        if (notice) notice.closest(".row").remove();
        setBusy(false);
        return;
      }
      const wait = body && body.estimate_s ? "约 " + body.estimate_s + " 秒后" : "稍后";
      const index = body && body.index ? "（检索索引 " + body.index.embedded + "/" + body.index.total + "）" : "";
      const text = "通办正在准备，" + wait + "就可以提问了" + index + "。";
      if (notice) notice.textContent = text;
      else { notice = addSystem(text); notice.dataset.starting = "1"; setBusy(true); }
      await new Promise(function (resolve) { setTimeout(resolve, 2000); });
    }
  }

  async function start() {
    await waitUntilReady();
    try {
      const body = await call("/api/web/history", { headers: HEADERS });
      const messages = (body && body.messages) || [];
      if (!messages.length) {
        addBot(WELCOME);
        return;
      }
      // staff replies, their join notice and what was said meanwhile come back after a reload too
      messages.forEach(function (m) {
        if (m.role === "resident") addMine(m.text);
        else if (m.role === "staff") addStaff(m);
        else if (m.role === "system") addSystem(m.text);
        else addBot({ text: m.text, ai_generated: m.ai_generated, ai_label: m.ai_label });
      });
      withStaff = !!body.handoff;
      setChips(withStaff ? [] : WELCOME.quick_replies);
    } catch (error) {
      addBot(WELCOME);
    }
  }

  start().finally(function () { document.body.dataset.ready = "1"; });
  listen(1000);
})();
