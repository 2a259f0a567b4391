// The images and files of a message (docs/protocol.md, "Attachments"). A part of message-item.js.
//
// An image shows as its thumbnail (or itself when small), with its width and height set so the
// list does not jump when it loads; a click opens it at full size (image-viewer.js). Any other
// file is a download link with its name and size. URLs are the server's own (/files/…).
//
// An image linked in the text is shown too, but only from a host the server's page.image_hosts
// names (the welcome's image_hosts; the page's CSP admits those and no other): loading an image
// from elsewhere would tell that site who reads the chat. Any other link stays a link.

import { h } from './dom.js';
import { t } from './i18n.js';
import { fileSize } from './file-size.js';
import { openViewer } from './image-viewer.js';

const THUMB_BOX = 200; // CSS pixels: the longest side an image is shown at in the list

function shownSize(a) {
  const scale = Math.min(1, THUMB_BOX / Math.max(a.width, a.height));
  return { width: Math.max(1, Math.round(a.width * scale)), height: Math.max(1, Math.round(a.height * scale)) };
}

function imageItem(a) {
  const { width, height } = shownSize(a);
  return h('li', { class: 'attachment image' },
    h('button', {
      type: 'button', class: 'attachment-open', 'data-testid': 'attachment-image',
      'aria-label': t('upload.open_image', { name: a.name }), onclick: () => openViewer(a),
    }, h('img', { src: a.thumb || a.url, alt: a.name, width, height, loading: 'lazy', decoding: 'async' })));
}

function fileItem(a) {
  return h('li', { class: 'attachment file' },
    h('a', { href: a.url, download: a.name, 'data-testid': 'attachment-file' },
      h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, '📄'),
      h('bdi', { class: 'attachment-name' }, a.name), ' ',
      h('span', { class: 'attachment-size' }, fileSize(a.size))));
}

const LINK = /\bhttps?:\/\/[^\s<>"]+/g;
const IMAGE_PATH = /\.(?:avif|gif|jpe?g|png|webp)$/i;
const MAX_LINKED = 4; // images shown per message

/** The URLs in `text` of images on one of `hosts` (host names, lower case). */
export function linkedImages(text, hosts) {
  if (!hosts || !hosts.length || !text) return [];
  const found = [];
  for (const [raw] of text.matchAll(LINK)) {
    let url;
    try {
      url = new URL(raw.replace(/[).,;:!?'\]]+$/, '')); // trailing punctuation is the sentence's
    } catch {
      continue;
    }
    if (hosts.includes(url.hostname) && IMAGE_PATH.test(url.pathname) && !found.includes(url.href)) {
      found.push(url.href);
    }
  }
  return found.slice(0, MAX_LINKED);
}

function linkedItem(src) {
  return h('li', { class: 'attachment linked' },
    h('img', { src, alt: src, loading: 'lazy', decoding: 'async', referrerpolicy: 'no-referrer',
      'data-testid': 'linked-image' }));
}

/** The attachments of m, and the images it links from allowed hosts, as a list; null when none. */
export function attachmentsPart(m, ctx) {
  const list = Array.isArray(m.attachments) ? m.attachments : [];
  const linked = linkedImages(m.text, ctx && ctx.store && ctx.store.imageHosts);
  if (!list.length && !linked.length) return null;
  return h('ul', { class: 'attachments', 'aria-label': t('upload.attachments') },
    list.map((a) => (a.width ? imageItem(a) : fileItem(a))), linked.map(linkedItem));
}
