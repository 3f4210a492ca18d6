/* fundflow pages: the little JavaScript there is. Everything works without it; htmx (vendored
   beside this file) posts the forms and swaps the part of the page that changed. */
(function () {
  "use strict";
  function banner(text) {
    var main = document.getElementById("main");
    if (!main) { return; }
    var box = document.getElementById("net-error");
    if (!box) {
      box = document.createElement("div");
      box.id = "net-error";
      box.className = "flash err";
      box.setAttribute("role", "alert");
      box.tabIndex = -1;
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
    box.focus();
  }
  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    banner("服务器未能处理请求（" + status + "），请稍后重试；如仍失败请联系管理员。");
  });
  document.addEventListener("htmx:sendError", function () {
    banner("无法连接服务器，请检查网络后重试。");
  });
})();
