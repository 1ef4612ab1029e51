// The interview room: the shared editor (CodeMirror bound to the session
// document through @automerge/automerge-codemirror), files as tabs, the
// others' carets, who is here, the lobby, Start / Leave / End, and for the
// interviewers the private notes and the feedback form.
import { basicSetup } from "codemirror";
import { EditorView } from "@codemirror/view";
import { Compartment, EditorState } from "@codemirror/state";
import { automergeSyncPlugin } from "@automerge/automerge-codemirror";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { cpp } from "@codemirror/lang-cpp";
import * as A from "@automerge/automerge";
import { get, post } from "./api.js";
import { h, clear, fmtTime, errorBox, colorOf } from "./dom.js";
import { Channel, initWasm } from "./sync.js";
import { remoteCursors, setRemoteCursors } from "./cursors.js";
import { Call } from "./call.js";
import { feedbackPanel } from "./feedback.js";

const LANGS = {
  python: ["Python", () => python()],
  javascript: ["JavaScript", () => javascript()],
  typescript: ["TypeScript", () => javascript({ typescript: true })],
  go: ["Go", () => go()],
  java: ["Java", () => java()],
  c: ["C", () => cpp()],
  cpp: ["C++", () => cpp()],
  text: ["Plain text", () => []],
};
const BY_EXT = { py: "python", js: "javascript", mjs: "javascript", jsx: "javascript", ts: "typescript", tsx: "typescript", go: "go", java: "java", c: "c", h: "c", cc: "cpp", cpp: "cpp", cxx: "cpp", hpp: "cpp" };

function languageOf(doc, file) {
  const set = doc.languages?.[file];
  if (set && LANGS[set]) return set;
  return BY_EXT[file.split(".").pop()] || "text";
}


export async function room(main, id, info) {
  // Automerge's WebAssembly compiles while the session loads, the camera
  // starts and the call connects (the channel holds the documents'
  // messages until it is ready): a reload mid-call comes back sooner.
  initWasm().then(() => performance.mark("parley:wasm"), (e) => main.append(errorBox(new Error(`The editor cannot start: ${e.message}`))));
  let session = await get("/sessions/" + encodeURIComponent(id));
  id = session.id;
  document.title = `${session.title}: Parley`;

  // Layout.
  const title = h("h1", {}, session.title, " ", h("span", { class: "muted" }, `with ${session.candidate}`));
  const badge = h("span", { class: "badge", id: "status" });
  const conn = h("span", { class: "conn muted", "aria-live": "polite" });
  const actions = h("div", { class: "room-actions" });
  const banner = h("div", { class: "banner", role: "status", "aria-live": "polite", id: "banner" });
  const people = h("ul", { class: "people", "aria-label": "Participants" });
  const tabs = h("div", { class: "file-tabs", role: "tablist", "aria-label": "Files" });
  const langPick = h("select", { id: "language", "aria-label": "Language of this file" },
    Object.entries(LANGS).map(([k, [label]]) => h("option", { value: k }, label)));
  const addFile = h("button", { type: "button", id: "add-file" }, "New file");
  const editorEl = h("div", { class: "editor", id: "editor" });
  const questionEl = h("div", { class: "question-editor" });
  const notesEl = h("div", { class: "notes-editor" });
  const notes = h("aside", { class: "notes", hidden: true, "aria-label": "Private notes" },
    h("h2", {}, "Private notes"), h("p", { class: "muted" }, "Interviewers only: the candidate's node never receives them."), notesEl);
  const lobby = h("section", { class: "lobby", hidden: true, "aria-live": "polite" },
    h("h2", {}, "Waiting for the interviewer to start"),
    h("p", {}, "You are in the lobby. The code editor opens here when an interviewer starts the interview."));
  const work = h("section", { class: "work", "aria-label": "Code" },
    h("div", { class: "question" }, h("h2", {}, "Question"), questionEl),
    h("div", { class: "toolbar" }, tabs, h("label", {}, "Language ", langPick), addFile),
    editorEl);
  const errors = h("div", { "aria-live": "assertive" });
  // What this node refused from the others, and whose document data it
  // refuses (interviewers and the company node only; see PROTOCOL.md,
  // "Refusals").
  const refusals = h("div", { class: "refusals", id: "refusals", role: "status", "aria-live": "polite", hidden: true });
  const callEl = h("section", { class: "call", "aria-label": "Call", hidden: true });
  const feedback = session.role === "interviewer" ? feedbackPanel(id) : null;
  main.append(
    h("div", { class: "room-head" }, title, badge, conn, actions),
    banner, refusals, errors,
    h("div", { class: "room" },
      h("aside", { class: "side" }, h("h2", {}, "Here now"), people, callEl),
      lobby, work, h("div", { class: "staff" }, notes, feedback?.el)));

  let me = info.peer;
  let role = session.role;
  let docs = [];
  let cursors = [];
  let ended = session.status === "ended";
  let current = null; // the file in the editor
  let view = null;
  let question = null, notesView = null;
  const lang = new Compartment();
  const editable = new Compartment();

  const showError = (msg) => {
    clear(errors).append(errorBox(new Error(msg)));
    setTimeout(() => clear(errors), 8000);
  };
  const act = async (what, path) => {
    try {
      session = await post(`/sessions/${id}/${path}`);
      drawSession();
    } catch (e) {
      showError(`${what}: ${e.message}`);
    }
  };

  const inLobby = () => role === "candidate" && session.status !== "live" && session.status !== "ended";
  let call = null;
  const builtInCall = () => !session.conference && role !== "company";
  const ensureCall = () => {
    if (!call) {
      // The channel is only used once the call starts, after its hello.
      call = new Call(callEl, { sendJSON: (m) => channel.sendJSON(m) }, { onError: showError });
      window.parleyCall = call;
    }
    callEl.hidden = false;
    return call;
  };
  const drawCall = (slots) => {
    if (!builtInCall()) return;
    if (ended) {
      call?.stop();
      callEl.hidden = true;
      return;
    }
    ensureCall();
    if (slots) call.update(slots, session.participants, me);
    // Before the start, a preview only; the call itself once it started.
    if (session.status === "live") call.start();
    else call.preview();
  };

  function drawSession() {
    ended = session.status === "ended";
    badge.className = "badge " + session.status;
    badge.textContent = session.status;
    clear(actions);
    if (session.conference) {
      actions.append(h("a", { href: session.conference, target: "_blank", rel: "noopener noreferrer", class: "button" }, "Join the call (external)"));
    }
    const interviewer = role === "interviewer";
    if (interviewer && (session.status === "lobby" || session.status === "pending")) {
      actions.append(h("button", { type: "button", class: "primary", id: "start", onclick: () => act("Start", "start") }, "Start interview"));
    }
    if (!ended) {
      actions.append(h("button", {
        type: "button", id: "leave",
        onclick: async () => {
          try {
            await post(`/sessions/${id}/leave`);
            location.href = "/";
          } catch (e) {
            showError(`Leave: ${e.message}`);
          }
        },
      }, "Leave"));
    }
    if (ended && role !== "candidate") {
      actions.append(h("a", { href: "/r/" + id, class: "button", id: "replay" }, "Replay"));
    }
    if (interviewer && !ended) {
      actions.append(h("button", {
        type: "button", class: "danger", id: "end",
        onclick: () => {
          if (confirm("End the interview for everyone? Nobody can rejoin with the link afterwards.")) act("End interview", "end");
        },
      }, "End interview"));
    }
    clear(banner);
    if (ended) {
      banner.className = "banner ended";
      banner.append(`This interview has ended${session.ended_by ? ` (ended by ${session.ended_by}` : " ("}${fmtTime(session.ended_at) ? ", " + fmtTime(session.ended_at) : ""}).`);
    } else if (interviewer && session.candidate_waiting) {
      banner.className = "banner waiting";
      banner.append("The candidate is waiting in the lobby.");
    } else banner.className = "banner";
    drawRefusals();
    clear(people);
    const present = session.participants || [];
    for (const p of present) {
      people.append(h("li", {},
        h("span", { class: "dot", style: `background:${colorOf(p.peer)}`, "aria-hidden": "true" }),
        `${p.name}${p.peer === me ? " (you)" : ""}`, " ", h("span", { class: "muted" }, p.role)));
    }
    if (!present.length) people.append(h("li", { class: "muted" }, "Nobody else yet"));
    lobby.hidden = !inLobby();
    work.hidden = inLobby();
    notes.hidden = !docs.includes("private") && !notesEl.querySelector("#final-notes");
    view?.dispatch({ effects: editable.reconfigure(readOnly()) });
    question?.dispatch({ effects: question.editableCompartment.reconfigure(readOnly(role !== "interviewer")) });
  }

  function drawRefusals() {
    clear(refusals);
    const rs = role === "candidate" ? [] : session.refusals || [];
    const qs = role === "candidate" ? [] : session.quarantined || [];
    refusals.hidden = !rs.length && !qs.length;
    if (refusals.hidden) return;
    refusals.append(h("h2", {}, "Refused"));
    const list = h("ul", {});
    for (const q of qs) {
      list.append(h("li", { class: "quarantine" }, `${q.name}'s document data is refused for this session: their node ${q.reason}.`));
    }
    for (const r of rs.slice(-5)) {
      list.append(h("li", {}, `${r.name}'s node ${r.what}${r.count > 1 ? ` (${r.count} times, last at ${fmtTime(r.at)})` : ` (${fmtTime(r.at)})`}.`));
    }
    refusals.append(list);
  }

  const readOnly = (also = false) => [EditorState.readOnly.of(ended || also), EditorView.editable.of(!(ended || also))];

  // The editor of the current file.
  let cursorTimer = null;
  const sendCursor = () => {
    if (cursorTimer || !view || !current) return;
    cursorTimer = setTimeout(() => {
      cursorTimer = null;
      const sel = view.state.selection.main;
      channel.sendJSON({ type: "cursor", file: current, anchor: sel.anchor, head: sel.head });
    }, 50);
  };
  const drawCursors = () => {
    if (!view) return;
    const mine = cursors.filter((c) => c.file === current && c.peer !== me)
      .map((c) => ({ name: c.name || "?", color: colorOf(c.peer), anchor: c.anchor, head: c.head }));
    view.dispatch({ effects: setRemoteCursors.of(mine) });
  };
  function openFile(file) {
    const shared = channel.doc("shared");
    view?.destroy();
    view = null;
    current = file;
    if (!file) return;
    const doc = shared.doc;
    const language = languageOf(doc, file);
    langPick.value = language;
    view = new EditorView({
      doc: String(doc.files?.[file] ?? ""),
      extensions: [
        basicSetup,
        lang.of(LANGS[language][1]()),
        editable.of(readOnly()),
        automergeSyncPlugin({ handle: shared.handle(["files", file]), path: ["files", file] }),
        remoteCursors,
        EditorView.updateListener.of((u) => {
          if (u.selectionSet || u.docChanged || u.focusChanged) sendCursor();
        }),
        EditorView.contentAttributes.of({ "aria-label": `Code editor: ${file}` }),
      ],
      parent: editorEl,
    });
    view.fileLanguage = language;
    drawCursors();
    drawTabs();
  }
  function drawTabs() {
    const doc = channel.doc("shared").doc;
    const files = Object.keys(doc.files || {}).sort();
    clear(tabs);
    for (const f of files) {
      tabs.append(h("button", {
        type: "button", role: "tab", class: "file-tab", "aria-selected": String(f === current), dataset: { file: f },
        onclick: () => openFile(f),
      }, f));
    }
    if (!files.length) tabs.append(h("span", { class: "muted" }, role === "interviewer" ? "No files yet: add one." : "No files yet."));
  }
  let wanted = null; // a file just added here, to open when it arrives
  const onShared = () => {
    const doc = channel.doc("shared").doc;
    const files = Object.keys(doc.files || {}).sort();
    if (wanted && files.includes(wanted)) {
      openFile(wanted);
      wanted = null;
    } else if (!current || !files.includes(current)) {
      openFile(files.includes(doc.active) ? doc.active : files[0] || null);
    } else if (view && languageOf(doc, current) !== view.fileLanguage) {
      const l = languageOf(doc, current);
      view.fileLanguage = l;
      langPick.value = l;
      view.dispatch({ effects: lang.reconfigure(LANGS[l][1]()) });
    }
    if (!question && doc.question !== undefined) {
      const c = new Compartment();
      question = new EditorView({
        doc: String(doc.question),
        extensions: [EditorView.lineWrapping, c.of(readOnly(role !== "interviewer")),
          automergeSyncPlugin({ handle: channel.doc("shared").handle(["question"]), path: ["question"] }),
          EditorView.contentAttributes.of({ "aria-label": "Question" })],
        parent: questionEl,
      });
      question.editableCompartment = c;
    }
    drawTabs();
  };
  const onPrivate = () => {
    const doc = channel.doc("private").doc;
    if (notesView || doc.notes === undefined) return;
    notesView = new EditorView({
      doc: String(doc.notes),
      extensions: [EditorView.lineWrapping, editable.of(readOnly()),
        automergeSyncPlugin({ handle: channel.doc("private").handle(["notes"]), path: ["notes"] }),
        EditorView.contentAttributes.of({ "aria-label": "Private notes" })],
      parent: notesEl,
    });
  };

  langPick.addEventListener("change", async () => {
    if (!current) return;
    try {
      await post(`/sessions/${id}/doc/shared`, { edits: [{ op: "language", name: current, lang: langPick.value }] });
    } catch (e) {
      showError(`Language: ${e.message}`);
    }
  });
  addFile.addEventListener("click", async () => {
    const name = prompt("Name of the new file (for example main.py):");
    if (!name) return;
    try {
      await post(`/sessions/${id}/doc/shared`, { edits: [{ op: "add", name: name.trim() }] });
      wanted = name.trim(); // opened once the page's copy has it
      onShared();
    } catch (e) {
      showError(`New file: ${e.message}`);
    }
  });

  // The camera and microphone start at once; the call once the channel's
  // socket is open.
  if (builtInCall() && !ended) ensureCall().preview();
  const channel = new Channel(id, {
    onHello(m) {
      performance.mark("parley:hello");
      me = m.you?.peer || me;
      role = m.role || role;
      docs = m.docs || [];
      if (m.session) session = m.session;
      addFile.hidden = role !== "interviewer";
      langPick.disabled = role === "candidate";
      channel.doc("shared").listeners.add(onShared);
      if (docs.includes("private")) channel.doc("private").listeners.add(onPrivate);
      drawSession();
      drawCall();
    },
    onState(m) {
      if (m.error) {
        // The node left the session: ended, or this node left.
        get("/sessions/" + encodeURIComponent(id)).then((s) => { session = s; drawSession(); drawCall(); }).catch(() => {});
        return;
      }
      if (m.session) session = m.session;
      cursors = m.cursors || [];
      drawSession();
      drawCursors();
      drawCall(m.media || []);
    },
    onMedia(m) {
      call?.offer(m.sdp).catch((e) => showError(`Call: ${e.message}`));
    },
    onError: showError,
    onStatus(s) {
      performance.mark("parley:" + s);
      conn.textContent = s === "connected" ? "" : "Reconnecting to this node…";
      if (s === "connected") {
        // A new socket: a new leg (the node closed the old one with the
        // old socket). The hello need not be waited for.
        if (call) call.started = false;
        drawCall();
      }
      if (s === "disconnected") {
        get("/sessions/" + encodeURIComponent(id)).then((x) => { session = x; drawSession(); }).catch(() => {});
      }
    },
  });
  // For scripts and the browser tests: what the editor holds, and the
  // channel to the node.
  window.parleyChannel = channel;
  window.parleyRoom = {
    file: () => current,
    text: () => view?.state.doc.toString() ?? null,
    notes: () => notesView?.state.doc.toString() ?? null,
  };
  drawSession();
  if (ended) {
    channel.close();
    try {
      const v = await get(`/sessions/${id}/doc/shared`);
      const fs = Object.keys(v.files || {});
      for (const f of fs) work.append(h("h3", {}, f), h("pre", { class: "final-code" }, v.files[f]));
    } catch {
      // The final code is with the company node's archive.
    }
    if (role === "interviewer") {
      // The notes, to write the feedback from; they no longer change.
      try {
        const n = await get(`/sessions/${id}/notes`);
        notes.hidden = false;
        clear(notesEl).append(h("pre", { class: "final-code", id: "final-notes" }, n.text || "(no notes)"));
      } catch {
        // This node kept no notes.
      }
    }
  }
}
