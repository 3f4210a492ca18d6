/* Draws the procedure's Mermaid diagram in the page with the vendored mermaid.min.js. */
(function () {
  "use strict";
  function draw() {
    if (!window.mermaid) { return; }
    window.mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "neutral",
                               fontFamily: "\"WenQuanYi Micro Hei\", \"Noto Sans CJK SC\", sans-serif"});
    window.mermaid.run({querySelector: "pre.mermaid"});
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
