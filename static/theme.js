// The colour theme: light, dark, or the system's (the settings' `theme`).
// style.css defines every colour as light-dark(), so choosing is setting
// <html data-theme> (absent: color-scheme follows the system). Imported
// first by app.js, so the page is never painted in the other theme.

import { onPref, pref } from './prefs.js';

/** Show the page in the theme the settings hold. */
export function applyTheme() {
  const theme = pref('theme');
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

applyTheme();
onPref((name) => name === 'theme' && applyTheme());
