// Remote carets and selections in CodeMirror: a state field of decorations
// replaced whenever the node reports where the others are.
import { StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType } from "@codemirror/view";

export const setRemoteCursors = StateEffect.define();

class Caret extends WidgetType {
  // below puts the name under the caret: on the first line, above it
  // would be cut off by the editor's top edge.
  constructor(name, color, below) {
    super();
    this.name = name;
    this.color = color;
    this.below = below;
  }
  eq(o) {
    return o.name === this.name && o.color === this.color && o.below === this.below;
  }
  toDOM() {
    const caret = document.createElement("span");
    caret.className = "cm-remote-caret";
    caret.style.borderLeftColor = this.color;
    caret.setAttribute("aria-label", `${this.name}'s cursor`);
    const label = document.createElement("span");
    label.className = "cm-remote-name" + (this.below ? " below" : "");
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    caret.append(label);
    return caret;
  }
  ignoreEvent() {
    return true;
  }
}

function build(cursors, doc) {
  const length = doc.length;
  const ranges = [];
  for (const c of cursors) {
    const anchor = Math.min(Math.max(c.anchor, 0), length);
    const head = Math.min(Math.max(c.head, 0), length);
    const from = Math.min(anchor, head), to = Math.max(anchor, head);
    if (from < to) {
      ranges.push(Decoration.mark({ class: "cm-remote-selection", attributes: { style: `background-color: ${c.color}40` } }).range(from, to));
    }
    ranges.push(Decoration.widget({ widget: new Caret(c.name, c.color, doc.lineAt(head).number === 1), side: 1 }).range(head));
  }
  return Decoration.set(ranges, true);
}

export const remoteCursors = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setRemoteCursors)) deco = build(e.value, tr.state.doc);
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});
