// What every console page shares, so the pages cannot drift apart in it: nodes built from text
// (always through textContent, never parsed as HTML) and calls to the console API.
"use strict";

window.consolePage = (function () {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // One page's `call(url, options)`. A POST carries X-Requested-With and, once someone is signed
  // in (`whoIsIn()`), their CSRF token; a JSON body says so, an upload's FormData sets its own type.
  // A 401 to someone signed in runs `signedOut` (the session ended elsewhere). A refusal throws an
  // Error with the server's Chinese message and the status.
  function caller(whoIsIn, signedOut) {
    return async function call(url, options) {
      options = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
      const person = whoIsIn();
      if (options.method === "POST") {
        options.headers = Object.assign(
          typeof options.body === "string" ? { "Content-Type": "application/json" } : {},
          { "X-Requested-With": "XMLHttpRequest" },
          person ? { "X-CSRF-Token": person.csrf } : {},
          options.headers);
      }
      const response = await fetch(url, options);
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      if (response.status === 401 && person && signedOut) signedOut();
      if (!response.ok) {
        const error = new Error((body && body.message) || "操作失败，请稍后再试");
        error.status = response.status;
        throw error;
      }
      return body;
    };
  }

  // A supervisors' page that will not open for this visitor: the report hidden, the reason shown.
  function refuse(title, text) {
    document.getElementById("report").hidden = true;
    document.getElementById("refused").hidden = false;
    document.getElementById("refused-title").textContent = title;
    document.getElementById("refused-text").textContent = text;
    document.body.dataset.ready = "1";
  }

  return { el: el, caller: caller, refuse: refuse };
})();
