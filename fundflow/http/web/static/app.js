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
  /* Uploads: photos from a phone (often 5-10 MB each) are shrunk in the browser before they are
     sent (long side 2048 px, JPEG); what still exceeds the form's limit (data-max-bytes, the
     server's) is refused here, in the form, which keeps everything typed. */
  var SHRINK_OVER = 1536 * 1024, MAX_SIDE = 2048, QUALITY = 0.8;
  function mb(n) { return (n / 1048576).toFixed(1).replace(/\.0$/, "") + " MB"; }
  function shrink(file) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type) || file.size <= SHRINK_OVER || !window.createImageBitmap) {
      return Promise.resolve(file);
    }
    return createImageBitmap(file).then(function (bmp) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bmp.width * scale);
      canvas.height = Math.round(bmp.height * scale);
      canvas.getContext("2d").drawImage(bmp, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob || blob.size >= file.size) { resolve(file); return; }
          resolve(new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg", {type: "image/jpeg"}));
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }
  function uploadError(form, text) {
    var box = form.querySelector(".upload-error");
    if (!box) { banner(text); return; }
    box.textContent = text;
    box.hidden = false;
    box.focus();
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-max-bytes]")) { return; }
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input[type=file]"));
    if (!inputs.some(function (i) { return i.files && i.files.length; })) { return; }
    e.preventDefault();
    e.stopPropagation();  /* captured before htmx sees it: it sends once the files are ready */
    var limit = parseInt(form.dataset.maxBytes, 10);
    Promise.all(inputs.map(function (input) {
      return Promise.all(Array.prototype.map.call(input.files, shrink)).then(function (files) {
        if (window.DataTransfer) {
          var dt = new DataTransfer();
          files.forEach(function (f) { dt.items.add(f); });
          input.files = dt.files;
        }
        return files;
      });
    })).then(function (lists) {
      var total = 0;
      lists.forEach(function (files) { files.forEach(function (f) { total += f.size; }); });
      if (limit && total > limit) {
        uploadError(form, "文件过大：本次上传合计 " + mb(total) + "，超过 " + mb(limit) + " 的上限。照片已自动压缩；" +
                          "其他文件请压缩后或分次上传。已填写的内容仍保留。");
        return;
      }
      var box = form.querySelector(".upload-error");
      if (box) { box.hidden = true; }
      var url = form.getAttribute("hx-post");
      if (url && window.htmx) {
        window.htmx.ajax("POST", url, {source: form, target: form.getAttribute("hx-target") || form,
                                       swap: form.getAttribute("hx-swap") || "innerHTML"});
      } else {
        HTMLFormElement.prototype.submit.call(form);  /* no second submit event */
      }
    });
  }, true);
  /* An answer that is not a page (a JSON error, e.g. 413 from the size limit) is never swapped
     into the page: its Chinese message goes into the form that was sent. */
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    var type = (xhr && xhr.getResponseHeader("content-type")) || "";
    if (type.indexOf("application/json") !== 0) { return; }
    e.detail.shouldSwap = false;
    e.detail.isError = false;
    var message = "请求未能处理（" + xhr.status + "）";
    try { message = JSON.parse(xhr.responseText).message || message; } catch (err) { /* keep the default */ }
    var form = e.detail.elt && e.detail.elt.closest ? e.detail.elt.closest("form") : null;
    if (xhr.status === 413 && form && form.dataset.maxBytes) {
      message = "文件过大：本次上传超过 " + mb(parseInt(form.dataset.maxBytes, 10)) + " 的上限，请压缩后或分次上传。";
    }
    if (form) { uploadError(form, message); } else { banner(message); }
  });
})();
