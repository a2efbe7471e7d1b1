// A small code editor: a textarea over a highlighted copy of its text, with line numbers.
// The textarea does the editing (selection, undo, phones' keyboards); the copy beneath only
// colours it.

const KEYWORDS = new Set(
  ("async await break case catch class const continue default delete do else export extends " +
    "false finally for function if import in instanceof let new null of return static super " +
    "switch this throw true try typeof undefined var void while yield").split(" "),
);
// Comments, strings, numbers and words, in the order they are tried.
const TOKEN = /(\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|("(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?|`(?:\\.|[^`\\])*`?)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b)|([A-Za-z_$][\w$]*)/g;

function span(kind, text) {
  const element = document.createElement("span");
  element.className = kind;
  element.textContent = text;
  return element;
}

// `code` as text nodes and coloured spans.
function highlighted(code) {
  const parts = [];
  let last = 0;
  for (const match of code.matchAll(TOKEN)) {
    const [text, comment, string, number, word] = match;
    const kind = comment ? "comment" : string ? "string" : number ? "number"
      : KEYWORDS.has(word) ? "keyword" : null;
    if (!kind) continue;
    parts.push(document.createTextNode(code.slice(last, match.index)), span(kind, text));
    last = match.index + text.length;
  }
  // A final newline needs a line after it to be shown.
  parts.push(document.createTextNode(code.slice(last) + "\n"));
  return parts;
}

export class Editor {
  constructor(container) {
    this.gutter = document.createElement("pre");
    this.gutter.className = "gutter";
    this.colours = document.createElement("pre");
    this.colours.className = "colours";
    this.text = document.createElement("textarea");
    this.text.spellcheck = false;
    this.text.setAttribute("autocapitalize", "off");
    this.text.setAttribute("aria-label", "the task's code");
    const area = document.createElement("div");
    area.className = "area";
    area.append(this.colours, this.text);
    container.append(this.gutter, area);
    this.text.addEventListener("input", () => this.render());
    this.text.addEventListener("scroll", () => {
      this.colours.scrollTop = this.gutter.scrollTop = this.text.scrollTop;
      this.colours.scrollLeft = this.text.scrollLeft;
    });
    this.text.addEventListener("keydown", (event) => {
      if (event.key !== "Tab" || event.shiftKey) return;
      event.preventDefault();
      this.text.setRangeText("  ", this.text.selectionStart, this.text.selectionEnd, "end");
      this.render();
    });
  }

  get value() {
    return this.text.value;
  }

  set value(code) {
    this.text.value = code;
    this.render();
  }

  set readOnly(readOnly) {
    this.text.readOnly = readOnly;
  }

  render() {
    const code = this.text.value;
    this.colours.replaceChildren(...highlighted(code));
    const lines = code.split("\n").length;
    this.gutter.textContent = Array.from({ length: lines }, (_, i) => i + 1).join("\n") + "\n";
  }
}
