// Files on their way into the next message: added by the 📎 button, by pasting into the
// message box, or by dropping them on the messages or the box. Each uploads at once
// (uploader.js) with its progress bar and a button that cancels it (or takes it out once
// uploaded); a refusal shows the page's words for the server's code. The composer sends the
// uploaded ones with the next message (ready()) and then empties the tray (clear()).

import { h, setChildren } from './dom.js';
import { t } from './i18n.js';
import { errorText } from './refusals.js';
import { fileSize } from './file-size.js';
import { upload } from './uploader.js';

export const MAX_FILES = 10; // the server's limit of attachments per message (docs/protocol.md, "say")

export class UploadTray {
  /**
   * els: {tray (ul), button, input (type=file), textarea, dropZones: [elements files may be dropped on]}
   * token() → the resume token; changed() is called whenever what ready() or busy() say changes.
   */
  constructor(els, token, changed) {
    this.els = els;
    this.token = token;
    this.changed = changed;
    this.items = [];
    els.button.addEventListener('click', () => els.input.click());
    els.input.addEventListener('change', () => {
      this.add([...els.input.files]);
      els.input.value = ''; // the same file may be chosen again
    });
    els.textarea.addEventListener('paste', (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (!files.length) return; // text is pasted as text
      e.preventDefault();
      this.add(files);
    });
    for (const zone of els.dropZones) this.acceptDrops(zone);
  }

  acceptDrops(zone) {
    const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    zone.addEventListener('dragover', (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      zone.classList.add('dropping');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dropping'));
    zone.addEventListener('drop', (e) => {
      zone.classList.remove('dropping');
      if (!carriesFiles(e)) return;
      e.preventDefault();
      this.add([...e.dataTransfer.files]);
    });
  }

  /** Start uploading `files` (File objects); those past MAX_FILES are refused in the tray. */
  add(files) {
    for (const file of files) {
      const item = { file, ref: null, error: null, handle: null, fraction: 0 };
      item.el = h('li', { class: 'upload', 'data-testid': 'upload' });
      this.items.push(item);
      if (this.items.length > MAX_FILES) {
        item.error = t('upload.too_many', { max: MAX_FILES });
      } else {
        item.handle = upload(file, this.token(), (fraction) => {
          item.fraction = fraction;
          this.render(item);
        });
        item.handle.done.then((ref) => {
          item.ref = ref;
          item.handle = null;
          this.render(item);
          this.changed();
        }, (err) => {
          item.handle = null;
          if (err.code === 'aborted') return; // taken out by the user: gone already
          item.error = errorText(err);
          this.render(item);
          this.changed();
        });
      }
      this.render(item);
    }
    this.show();
    this.changed();
  }

  render(item) {
    const name = h('bdi', { class: 'upload-name' }, item.file.name || t('upload.pasted'));
    let state;
    if (item.error) state = h('span', { class: 'upload-error', role: 'alert' }, item.error);
    else if (item.ref) state = h('span', { class: 'upload-size' }, fileSize(item.ref.size));
    else {
      state = h('progress', { max: 1, value: item.fraction, 'data-testid': 'upload-progress',
        'aria-label': t('upload.progress', { name: item.file.name || t('upload.pasted') }) });
    }
    const remove = h('button', {
      type: 'button', class: 'upload-remove', 'data-testid': 'upload-remove',
      'aria-label': t(item.handle ? 'upload.cancel' : 'upload.remove', { name: item.file.name || '' }),
      onclick: () => this.remove(item),
    }, '×');
    item.el.dataset.state = item.error ? 'failed' : item.ref ? 'done' : 'uploading';
    setChildren(item.el, name, ' ', state, remove);
  }

  remove(item) {
    if (item.handle) item.handle.abort();
    this.items = this.items.filter((i) => i !== item);
    this.show();
    this.changed();
    this.els.textarea.focus();
  }

  show() {
    setChildren(this.els.tray, this.items.map((i) => i.el));
    this.els.tray.hidden = !this.items.length;
  }

  /** The attachments uploaded and waiting to be sent, in the order added. */
  ready() {
    return this.items.filter((i) => i.ref).map((i) => i.ref);
  }

  /** Whether a file is still uploading (the message waits for it). */
  busy() {
    return this.items.some((i) => i.handle);
  }

  /** After a send: the uploaded files went with it; refused ones go too. */
  clear() {
    this.items = this.items.filter((i) => i.handle);
    this.show();
    this.changed();
  }
}
