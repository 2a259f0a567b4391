// An image at full size over the page: a modal <dialog> (Esc and the close button shut it,
// focus comes back to what opened it), with the file's name and a download link.

import { h } from './dom.js';
import { t } from './i18n.js';

let dialog = null;

function build() {
  const image = h('img', { class: 'viewer-image', 'data-testid': 'viewer-image', alt: '' });
  const name = h('bdi', { class: 'viewer-name' });
  const download = h('a', { class: 'viewer-download', 'data-testid': 'viewer-download', download: '' },
    t('upload.download'));
  const close = h('button', { type: 'button', class: 'viewer-close', 'data-testid': 'viewer-close',
    'aria-label': t('upload.close_viewer') }, '×');
  const box = h('dialog', { class: 'viewer', 'data-testid': 'viewer', 'aria-label': t('upload.viewer') },
    h('div', { class: 'viewer-bar' }, name, download, close), h('div', { class: 'viewer-body' }, image));
  close.addEventListener('click', () => box.close());
  // A click on the backdrop (the dialog itself, outside its content) closes it too.
  box.addEventListener('click', (e) => {
    if (e.target === box) box.close();
  });
  box.addEventListener('close', () => image.removeAttribute('src'));
  document.body.append(box);
  return { box, image, name, download };
}

/** Show the attachment `a` ({url, name, width, height}) at full size. */
export function openViewer(a) {
  dialog = dialog || build();
  dialog.image.src = a.url;
  dialog.image.alt = a.name;
  if (a.width) {
    dialog.image.width = a.width;
    dialog.image.height = a.height;
  }
  dialog.name.textContent = a.name;
  dialog.download.href = a.url;
  dialog.box.showModal();
}
