// feedproxy dashboard: progressive enhancement only. Every page works without this file; with it,
// copy buttons copy and the feed editor previews as you type.
/* global document */
'use strict';

function enableCopyButtons() {
  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        document.execCommand('copy'); // http:// origins have no async clipboard
      }
      const label = button.firstChild;
      const before = label.textContent;
      label.textContent = 'Copied';
      setTimeout(() => { label.textContent = before; }, 1500);
    });
  }
}

function enableLivePreview() {
  const form = document.querySelector('form[data-preview]');
  const target = document.getElementById('preview');
  if (!form || !target) return;
  let timer;
  let sent = 0;
  const refresh = async () => {
    const mine = ++sent;
    target.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(form.dataset.preview, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
      });
      // The fragment was rendered and escaped by the server, like every page.
      if (mine === sent && response.ok) target.innerHTML = await response.text();
    } finally {
      if (mine === sent) target.removeAttribute('aria-busy');
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  };
  form.addEventListener('input', schedule);
  form.addEventListener('change', schedule);
}

document.addEventListener('DOMContentLoaded', () => {
  enableCopyButtons();
  enableLivePreview();
});
