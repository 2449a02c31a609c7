#include "static_assets.h"

namespace erds::portal::internal {

// Colours meet WCAG 2.1 AA contrast (text >= 4.5:1 on its background); layout is one column up
// to 40rem so the pages work from 360 px wide; focus is always visible.
const std::string_view kPortalCss = R"CSS(*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:100%;line-height:1.5;color:#1a1a1a;background:#fff}
body{margin:0}
a{color:#0b4f9c}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #c25e00;outline-offset:2px}
.skip{position:absolute;left:-9999px;top:0;background:#fff;padding:.5rem}
.skip:focus{left:.5rem;z-index:10}
header.top{background:#12355b;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
header.top a{color:#fff}
.brand{font-weight:700;text-decoration:none;font-size:1.2rem}
.brand span{font-weight:400;font-size:.9rem}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem .75rem}
nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
.who{display:flex;gap:.5rem;align-items:center;margin-left:auto;flex-wrap:wrap;word-break:break-all}
.who button.link{background:none;border:1px solid #fff;color:#fff;padding:.2rem .6rem}
main{max-width:60rem;margin:0 auto;padding:1rem}
main:focus{outline:none}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin-top:1.5rem}
footer{border-top:1px solid #ccc;padding:1rem;font-size:.9rem;color:#444;max-width:60rem;margin:2rem auto 0}
form.stack{display:grid;gap:.75rem;max-width:40rem}
form.inline{display:inline}
form.stack+form.stack{margin-top:1.5rem}
section.notice h2{margin-top:0}
fieldset{display:grid;gap:.5rem}
label{font-weight:600;display:block}
label.inline{display:inline;font-weight:400}
.hint{font-weight:400;color:#4a4a4a;font-size:.9rem;display:block}
input[type=text],input[type=email],input[type=password],input[type=date],input[type=number],select,textarea{width:100%;font:inherit;padding:.5rem;border:1px solid #595959;border-radius:4px;background:#fff;color:#1a1a1a}
textarea{min-height:8rem}
fieldset{border:1px solid #8c8c8c;border-radius:4px;padding:.5rem .75rem}
legend{font-weight:600}
button{font:inherit;padding:.5rem 1rem;border-radius:4px;border:1px solid #0b4f9c;background:#0b4f9c;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b4f9c}
button.danger{background:#a4161a;border-color:#a4161a}
.flash{padding:.75rem 1rem;border-left:6px solid #1b6e3a;background:#eaf5ee;margin-bottom:1rem}
.flash.error{border-color:#a4161a;background:#fbeaea}
.notice{padding:.75rem 1rem;border:1px solid #8c8c8c;border-radius:4px;background:#f5f7fa;margin:1rem 0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #ccc;vertical-align:top;overflow-wrap:anywhere}
caption{text-align:left;font-weight:600;padding:.25rem 0}
.table-wrap{overflow-x:auto}
.state{display:inline-block;padding:0 .4rem;border-radius:3px;background:#e8ecf2;color:#1a1a1a;font-size:.9rem}
ol.timeline{list-style:none;padding:0;border-left:3px solid #12355b;margin-left:.5rem}
ol.timeline li{padding:.25rem 0 .75rem 1rem}
ol.timeline .event{font-weight:700}
dl.facts{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.25rem 1rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
progress{width:100%;height:1.25rem}
.progress[hidden]{display:none}
a.button{display:inline-block;padding:.5rem 1rem;border-radius:4px;border:1px solid #0b4f9c;text-decoration:none}
a.button.secondary{background:#fff;color:#0b4f9c}
ul.plain{list-style:none;margin:0;padding:0}
pre{background:#f5f7fa;border:1px solid #8c8c8c;border-radius:4px;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere}
section.notice.second{border:3px solid #8a4b00}
.flag{padding:.5rem .75rem;background:#fff4e5;border-left:6px solid #8a4b00;margin:0 0 .75rem}
table.policy th[scope=row]{font-weight:400}
td.no{color:#4a4a4a}
img.scan{max-width:100%;height:auto;border:1px solid #8c8c8c}
input[type=datetime-local],input[type=file]{width:100%;font:inherit;max-width:100%}
code,.mono{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
@media (max-width:40rem){dl.facts{grid-template-columns:1fr}th,td{padding:.3rem}}
@media print{header.top,footer,.actions,.skip,.noprint{display:none}body{color:#000}a{color:#000}main{max-width:none}}
)CSS";

const std::string_view kPortalJs = R"JS('use strict';
// Progressive enhancement only: the forms work without this file.
document.addEventListener('DOMContentLoaded', function () {
  // Upload progress for forms marked data-upload: send with XMLHttpRequest and show the bytes sent.
  document.querySelectorAll('form[data-upload]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      ev.preventDefault();
      var box = form.querySelector('[data-progress]') || document.getElementById('upload-progress');
      var bar = box ? box.querySelector('progress') : null;
      var label = box ? box.querySelector('[data-progress-label]') : null;
      if (box) box.hidden = false;
      var button = form.querySelector('button[type=submit]');
      if (button) button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open('POST', form.action);
      xhr.upload.addEventListener('progress', function (e) {
        if (!e.lengthComputable || !bar) return;
        var pct = Math.round(e.loaded * 100 / e.total);
        bar.value = pct;
        if (label) label.textContent = pct + ' % uploaded';
      });
      xhr.addEventListener('load', function () {
        // Success is a redirect (303) away from the form's own URL; anything else is a page to show.
        var self = new URL(form.action, window.location.href).href;
        if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL && xhr.responseURL.split('?')[0] !== self) {
          window.location.assign(xhr.responseURL);
          return;
        }
        // An error page: show its main content in place (no script in it; CSP applies).
        var doc = new DOMParser().parseFromString(xhr.responseText, 'text/html');
        var main = doc.querySelector('main');
        var here = document.querySelector('main');
        if (main && here) { here.replaceWith(main); main.focus(); }
        else { window.location.reload(); }
      });
      xhr.addEventListener('error', function () {
        if (label) label.textContent = 'Upload failed. Check the connection and try again.';
        if (button) button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  });
  document.querySelectorAll('button[data-print]').forEach(function (b) {
    b.addEventListener('click', function () { window.print(); });
  });
});
)JS";

}  // namespace erds::portal::internal
