"""Make static/vendor/emojibase/emoji.json from an npm install of emojibase-data.

    npm install --prefix /tmp/emoji emojibase-data
    python tools/vendor_emoji.py /tmp/emoji/node_modules/emojibase-data

The page's picker and ``:shortcode:`` completion (static/emoji-data.js) need, per emoji: the
character, its group, its English and Chinese label and keywords, and its shortcodes. The
package's compact data holds each language in a file of ~550 kB with skin-tone variants the
page does not offer; this keeps what the page uses in one file of about a third of that.
Components (group 2: skin tones, hair styles) are left out: they are not emoji on their own;
so are emoji newer than MAX_VERSION, which most phones and computers still draw as empty boxes.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "vendor" / "emojibase"
COMPONENTS = 2  # emojibase's group of skin tones and hair styles
MAX_VERSION = 15.1  # Emoji version (emojibase's data.json `version`); raise it as systems catch up
SHORTCODE_SETS = ["github", "emojibase"]  # the :smile: names people know first, then emojibase's own


def _list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def build(package: Path) -> dict:
    """The trimmed data: {"version", "emoji": [[char, group, en label, en tags, zh label, zh tags, shortcodes]]},
    tags and shortcodes space-separated, in emojibase's order."""
    english = json.loads((package / "en" / "compact.json").read_text(encoding="utf-8"))
    versions = {e["hexcode"]: e.get("version", 0)
                for e in json.loads((package / "en" / "data.json").read_text(encoding="utf-8"))}
    chinese = {e["hexcode"]: e for e in json.loads((package / "zh" / "compact.json").read_text(encoding="utf-8"))}
    codes = [json.loads((package / "en" / "shortcodes" / f"{name}.json").read_text(encoding="utf-8"))
             for name in SHORTCODE_SETS]
    rows = []
    for entry in sorted(english, key=lambda e: e.get("order", 0)):
        group = entry.get("group")
        if group is None or group == COMPONENTS or versions.get(entry["hexcode"], 0) > MAX_VERSION:
            continue
        zh = chinese.get(entry["hexcode"], {})
        shortcodes = list(dict.fromkeys(c for table in codes for c in _list(table.get(entry["hexcode"]))))
        rows.append([entry["unicode"], group, entry["label"], " ".join(entry.get("tags", [])),
                     zh.get("label", ""), " ".join(zh.get("tags", [])), " ".join(shortcodes)])
    version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    return {"version": version, "emoji": rows}


def main(package: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    data = build(package)
    (OUT / "emoji.json").write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    shutil.copyfile(package / "LICENSE", OUT.parent / "licenses" / "emojibase-data.LICENSE")
    print(f"{len(data['emoji'])} emoji from emojibase-data {data['version']} → {OUT / 'emoji.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
