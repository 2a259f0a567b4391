// Editing one's own message in place (docs/protocol.md, "Edits and reactions"): the text
// becomes a box, Enter saves, Shift+Enter is a new line, Esc cancels; and the "(edited)" mark
// with the edit's time on hover. Parts of message-item.js.

import { h } from './dom.js';
import { formatDateTime, t } from './i18n.js';

/** The box editing m in place of its text, while the user edits it (store.editing), else null. */
export function editorPart(m, ctx) {
  if (ctx.store.editing !== m.id || m.deleted) return null;
  const box = h('textarea', {
    class: 'msg-edit-box', 'data-testid': 'edit-box', rows: Math.min(8, m.text.split('\n').length + 1),
    'aria-label': t('message.edit_label'), 'aria-describedby': `edit-help-${m.id}`,
  });
  // What the user typed so far survives the item being rebuilt (a reaction came meanwhile).
  box.value = ctx.store.editDraft ?? m.text;
  box.addEventListener('input', () => { ctx.store.editDraft = box.value; });
  const save = () => ctx.actions.saveEdit(m, box.value);
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      save();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      ctx.actions.cancelEdit();
    }
  });
  // Focused once in the page (the item is built before it is attached).
  requestAnimationFrame(() => {
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });
  return h('form', { class: 'msg-edit', 'data-testid': 'edit-form', onsubmit: (e) => { e.preventDefault(); save(); } },
    box,
    h('p', { class: 'msg-edit-help', id: `edit-help-${m.id}` }, t('message.edit_help'), ' ',
      h('button', { type: 'submit', class: 'link', 'data-testid': 'edit-save' }, t('message.save')), ' ',
      h('button', { type: 'button', class: 'link', 'data-testid': 'edit-cancel', onclick: () => ctx.actions.cancelEdit() },
        t('message.cancel'))));
}

/** "(edited)", with when on hover, or null. */
export function editedMark(m) {
  if (!m.edited || m.deleted) return null;
  const when = formatDateTime(m.edited);
  return h('span', {
    class: 'msg-edited', 'data-testid': 'edited-mark', 'data-focus': 'edited-mark', title: t('message.edited_at', { when }),
    tabindex: '0',
  }, t('message.edited'));
}
