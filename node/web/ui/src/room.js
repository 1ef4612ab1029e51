// The interview room: the shared editor (CodeMirror bound to the session
// document through @automerge/automerge-codemirror), files as tabs, the
// others' carets, who is here, the lobby, Start / Leave / End, Run and its
// output, and for the interviewers the private notes and the feedback
// form.
import { basicSetup } from "codemirror";
import { EditorView, placeholder } from "@codemirror/view";
import { Compartment, EditorState } from "@codemirror/state";
import { automergeSyncPlugin } from "@automerge/automerge-codemirror";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { cpp } from "@codemirror/lang-cpp";
import * as A from "@automerge/automerge";
import { get, post } from "./api.js";
import { h, clear, fmtTime, parseDuration, errorBox, colorOf, colorsFor } from "./dom.js";
import { Channel, initWasm } from "./sync.js";
import { remoteCursors, setRemoteCursors } from "./cursors.js";
import { Call } from "./call.js";
import { feedbackPanel } from "./feedback.js";
import { runPanel } from "./run.js";
import { guest, plainName } from "./mode.js";

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

// scalar returns a string the document holds as a plain string: Automerge 3
// gives such values as ImmutableString objects, which compare unequal to
// every string.
const scalar = (v) => (v == null ? undefined : String(v));

function languageOf(doc, file) {
  const set = scalar(doc.languages?.[file]);
  if (set && LANGS[set]) return set;
  return BY_EXT[file.split(".").pop()] || "text";
}

// clock says a span of milliseconds as a clock does: 1:05:09, 42:07.
function clock(ms) {
  const t = Math.max(0, Math.floor(ms / 1000));
  const p = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  return hours ? `${hours}:${p(m)}:${p(sec)}` : `${m}:${p(sec)}`;
}


// guestChannel opens a guest's room channel (on the company's gateway, the
// page has no API to ask for the session: the socket's hello brings it) and
// returns it with its hello, or null when the gateway refused it (it said
// why, and this shows it).
function guestChannel(main, id) {
  const wait = h("p", { class: "loading" }, "Connecting to your interview…");
  main.append(wait);
  return new Promise((resolve) => {
    let said = "";
    const channel = new Channel(id, {
      onHello: (m) => {
        wait.remove();
        resolve({ channel, hello: m });
      },
      onError: (msg) => (said = msg),
      onStatus: (s, reason) => {
        if (s !== "refused") return;
        // The whole message comes before the close, behind Automerge.
        channel.pending.then(() => {
          wait.remove();
          main.append(h("h1", {}, "Your interview"),
            h("p", { class: "error", role: "alert", id: "refused" }, said || reason),
            h("p", {}, "To come back, open your interview link again."));
          resolve(null);
        });
      },
    });
  });
}

export async function room(main, id, info) {
  // Automerge's WebAssembly compiles while the session loads, the camera
  // starts and the call connects (the channel holds the documents'
  // messages until it is ready): a reload mid-call comes back sooner.
  initWasm().then(() => performance.mark("parley:wasm"), (e) => main.append(errorBox(new Error(`The editor cannot start: ${e.message}`))));
  // A guest's channel opens first, and its hello stands in for the API.
  const early = guest ? await guestChannel(main, id) : null;
  if (guest && !early) return;
  let session = early ? early.hello.session : await get("/sessions/" + encodeURIComponent(id));
  id = session.id;
  document.title = `${session.title}: Parley`;

  // Layout.
  const title = h("h1", {}, session.title, " ", h("span", { class: "muted" }, `with ${session.candidate}`));
  const badge = h("span", { class: "badge", id: "status" });
  // The block's clock: elapsed since the start, and what is left of the
  // block's duration.
  const timer = h("span", { class: "timer", id: "timer", role: "timer", "aria-live": "off" });
  const conn = h("span", { class: "conn muted", "aria-live": "polite" });
  const actions = h("div", { class: "room-actions" });
  const banner = h("div", { class: "banner", role: "status", "aria-live": "polite", id: "banner" });
  const peopleHeading = h("h2", { id: "people-heading" }, "Here now");
  const people = h("ul", { class: "people", "aria-labelledby": "people-heading" });
  const tabs = h("div", { class: "file-tabs", role: "tablist", "aria-label": "Files" });
  const langPick = h("select", { id: "language", "aria-label": "Language of this file" },
    Object.entries(LANGS).map(([k, [label]]) => h("option", { value: k }, label)));
  const langLabel = h("label", {}, "Language ", langPick);
  const addFile = h("button", { type: "button", id: "add-file", "aria-expanded": "false", "aria-controls": "new-file-form" }, "New file");
  // New file: a small form in the toolbar (a name; the language follows
  // from its extension, as the picker shows).
  const newName = h("input", { id: "new-file-name", name: "file", required: true, autocomplete: "off", spellcheck: false, maxlength: "128", placeholder: "solution.py", "aria-label": "Name of the new file" });
  const newFileError = h("span", { class: "error", role: "alert" });
  const newFileForm = h("form", { class: "new-file", id: "new-file-form", hidden: true },
    newName, h("button", { type: "submit", class: "primary" }, "Add"),
    h("button", { type: "button", id: "new-file-cancel", onclick: () => closeNewFile() }, "Cancel"), newFileError);
  const editorEl = h("div", { class: "editor", id: "editor" });
  const questionEl = h("div", { class: "question-editor" });
  const notesEl = h("div", { class: "notes-editor" });
  const notes = h("aside", { class: "notes", hidden: true, "aria-label": "Private notes" },
    h("h2", {}, "Private notes"), h("p", { class: "muted" }, "Interviewers only: the candidate's node never receives them."), notesEl);
  const lobby = h("section", { class: "lobby-wait", id: "lobby", hidden: true, "aria-live": "polite" },
    h("h2", {}, "Waiting for the interviewer to start"),
    h("p", {}, "You are in the lobby. The code editor opens here when an interviewer starts the interview."));
  const question = h("div", { class: "question" }, h("h2", {}, "Question"), questionEl);
  const toolbar = h("div", { class: "toolbar" }, tabs, langLabel, addFile, newFileForm);
  // What the interview ended with: the question and the files, as text.
  const final = h("div", { class: "final", id: "final", hidden: true });
  const work = h("section", { class: "work", "aria-label": "Code" }, question, toolbar, editorEl, final);
  const errors = h("div", { "aria-live": "assertive", id: "errors" });
  // What this node refused from the others, and whose document data it
  // refuses (interviewers and the company node only; see PROTOCOL.md,
  // "Refusals").
  const refusals = h("div", { class: "refusals", id: "refusals", role: "status", "aria-live": "polite", hidden: true });
  const callEl = h("section", { class: "call", "aria-label": "Call", hidden: true });
  const feedback = session.role === "interviewer" ? feedbackPanel(id) : null;
  const watching = h("p", { class: "muted", id: "company-note", hidden: session.role !== "company" },
    "The company node keeps this interview's record and takes no part: interviewers write from their own nodes.");
  main.append(
    h("div", { class: "room-head" }, title, badge, timer, conn, actions),
    banner, watching, refusals, errors,
    h("div", { class: "room" },
      h("aside", { class: "side" }, peopleHeading, people, callEl),
      lobby, work, h("div", { class: "staff" }, notes, feedback?.el)));

  let me = info?.peer;
  let channel; // the session's channel, made once the room is drawn
  let role = session.role;
  let docs = [];
  let cursors = [];
  let mediaDrawn = ""; // the call's slots as last drawn
  let ended = session.status === "ended";
  let finalShown = false;
  let current = null; // the file in the editor
  let view = null;
  let questionView = null, notesView = null;
  // Each participant's color, distinct in the session (see colorsFor).
  let colors = {};
  const colorFor = (peer) => colors[peer] || colorOf(peer);
  const lang = new Compartment();
  const editable = new Compartment();

  const showError = (msg) => {
    clear(errors).append(errorBox(new Error(msg)));
    setTimeout(() => clear(errors), 8000);
  };
  // A guest's page runs code through its socket: it has no API of its node.
  const runs = runPanel(id, showError, guest ? (m) => channel?.sendJSON(m) : null);
  work.append(runs.el);
  const drawRun = () => {
    // The page's copy, if the hello made it yet (never made here: it is
    // named after the hello, and Automerge may not be ready).
    const doc = channel?.docs.shared?.doc;
    runs.update(session, current, current && doc ? languageOf(doc, current) : null, role);
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
      call = new Call(callEl, { sendJSON: (m) => channel.sendJSON(m) }, { onError: showError, colorFor });
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
    const cancelled = ended && session.end_reason === "canceled";
    // Those present now, as every page sees them; after the end, who took
    // part.
    colors = colorsFor(ended ? (session.attendance || []).map((a) => ({ peer: a.peer, since: a.joined })) : session.participants || []);
    badge.className = "badge " + (cancelled ? "cancelled" : session.status);
    badge.textContent = cancelled ? "cancelled" : session.status;
    drawTimer();
    clear(actions);
    if (session.conference && !ended) {
      actions.append(h("a", { href: session.conference, target: "_blank", rel: "noopener noreferrer", class: "button" }, "Join the call (external)"));
    }
    const interviewer = role === "interviewer";
    if (interviewer && (session.status === "lobby" || session.status === "pending")) {
      actions.append(h("button", { type: "button", class: "primary", id: "start", onclick: () => act("Start", "start") }, "Start interview"));
    }
    if (!ended && role !== "company") {
      actions.append(h("button", {
        type: "button", id: "leave",
        onclick: async () => {
          try {
            if (guest) {
              // The gateway's participant leaves when this page has been
              // gone a while; the link brings the guest back until then.
              channel.close();
              clear(main).append(h("h1", {}, "You left the interview"),
                h("p", {}, "To come back, open your interview link again."));
              return;
            }
            await post(`/sessions/${id}/leave`);
            location.href = "/";
          } catch (e) {
            showError(`Leave: ${e.message}`);
          }
        },
      }, "Leave"));
    }
    if (ended && !cancelled && role !== "candidate") {
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
      const by = [session.ended_by && `by ${session.ended_by}`, fmtTime(session.ended_at)].filter(Boolean).join(", ");
      banner.append(`This interview ${cancelled ? "was cancelled" : "has ended"}${by ? ` (${by})` : ""}.`);
    } else if (interviewer && session.candidate_waiting) {
      banner.className = "banner waiting";
      banner.append("The candidate is waiting in the lobby.");
    } else banner.className = "banner";
    drawRefusals();
    drawPeople();
    lobby.hidden = !inLobby();
    work.hidden = inLobby();
    notes.hidden = !docs.includes("private") && !notesEl.querySelector("#final-notes");
    addFile.hidden = role !== "interviewer" || ended;
    langLabel.hidden = ended;
    if (ended) closeNewFile();
    setEditable(view, editable);
    drawRun();
    setEditable(questionView, questionView?.editableCompartment, role !== "interviewer");
    setEditable(notesView, notesView?.editableCompartment, role !== "interviewer");
    if (ended && !finalShown) showFinal();
  }

  // named is how a participant shows in the list: the name, "(you)", and
  // for the interviewers, a note when the candidate joined from a browser
  // through the company's gateway.
  const named = (name, peer) => {
    const [plain, viaGateway] = plainName(name);
    return [`${plain}${peer === me ? " (you)" : ""}`,
      viaGateway && role !== "candidate" ? h("span", { class: "muted via-gateway", title: "Joined from a browser through the company's gateway: no Parley of their own" }, " · in a browser, through the company's gateway") : ""];
  };

  // drawPeople lists who is here now; once the interview is over, who
  // took part (the nodes stay a few seconds after the end, and the company
  // node for good: none of them is "here").
  function drawPeople() {
    clear(people);
    const dot = (peer) => h("span", { class: "dot", style: `background:${colorFor(peer)}`, "aria-hidden": "true" });
    if (ended) {
      peopleHeading.textContent = "Who took part";
      const seen = new Set();
      for (const a of session.attendance || []) {
        if (seen.has(a.peer)) continue;
        seen.add(a.peer);
        people.append(h("li", {}, dot(a.peer), ...named(a.name, a.peer), " ", h("span", { class: "muted" }, a.role)));
      }
      if (!seen.size) people.append(h("li", { class: "muted" }, "Nobody came"));
      return;
    }
    peopleHeading.textContent = "Here now";
    const present = session.participants || [];
    for (const p of present) {
      people.append(h("li", {}, dot(p.peer), ...named(p.name, p.peer), " ", h("span", { class: "muted" }, p.role)));
    }
    if (!present.length) people.append(h("li", { class: "muted" }, "Nobody else yet"));
  }

  function drawTimer() {
    const block = parseDuration(session.duration);
    let text = "", over = false;
    if (session.status === "live" && session.started_at) {
      const elapsed = Date.now() - Date.parse(session.started_at);
      over = elapsed > block;
      text = `${clock(elapsed)} elapsed · ` + (over ? `${clock(elapsed - block)} over` : `${clock(block - elapsed)} left`);
    } else if (!ended && block) {
      text = `${clock(block)} block, not started`;
    }
    timer.textContent = text;
    timer.hidden = !text;
    timer.classList.toggle("over", over);
  }
  const ticking = setInterval(() => (ended ? clearInterval(ticking) : drawTimer()), 1000);

  function drawRefusals() {
    clear(refusals);
    const rs = role === "candidate" ? [] : session.refusals || [];
    const qs = role === "candidate" ? [] : session.quarantined || [];
    const by = session.refused_by || [];
    refusals.hidden = !rs.length && !qs.length && !by.length;
    if (refusals.hidden) return;
    refusals.append(h("h2", {}, "Refused"));
    const list = h("ul", {});
    for (const r of by) {
      list.append(h("li", { class: "refused-by" }, `${r.name}'s node refuses your edits: it says your node ${r.reason}. What you type now does not reach them; ${role === "interviewer" ? "another interviewer" : "an interviewer"} can let your edits in again.`));
    }
    for (const q of qs) {
      const until = q.until ? ` It is taken again at ${fmtTime(q.until)}.` : "";
      const carrier = q.carrier ? " (passed on by another node)" : "";
      list.append(h("li", { class: "quarantine" }, `${q.name}'s edits are refused: their node ${q.reason}${carrier}.${until} `,
        role === "interviewer" ? h("button", {
          type: "button", class: "lift", dataset: { peer: q.peer },
          onclick: () => act("Let in again", `quarantine/${encodeURIComponent(q.peer)}/lift`),
        }, "Take their edits again") : null));
    }
    for (const r of rs.slice(-5)) {
      list.append(h("li", {}, `${r.name}'s node ${r.what}${r.count > 1 ? ` (${r.count} times, last at ${fmtTime(r.at)})` : ` (${fmtTime(r.at)})`}.`));
    }
    refusals.append(list);
  }

  // The company node's page watches; nobody edits after the end.
  const isReadOnly = (also = false) => ended || also || role === "company";
  const readOnly = (also = false) => {
    const off = isReadOnly(also);
    return [EditorState.readOnly.of(off), EditorView.editable.of(!off)];
  };
  // setEditable makes an editor read-only or not, if that changed: every
  // dispatch makes CodeMirror read the page's selection, which costs a
  // layout of the page, and state messages come with every caret moved.
  const setEditable = (v, compartment, also = false) => {
    const off = isReadOnly(also);
    if (!v || v.parleyReadOnly === off) return;
    v.parleyReadOnly = off;
    v.dispatch({ effects: compartment.reconfigure(readOnly(also)) });
  };

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
      .map((c) => ({ name: plainName(c.name)[0] || "?", color: colorFor(c.peer), anchor: c.anchor, head: c.head }));
    const key = JSON.stringify(mine);
    if (view.parleyCursors === key) return; // (a dispatch costs a layout)
    view.parleyCursors = key;
    view.dispatch({ effects: setRemoteCursors.of(mine) });
  };
  // A preview of the code, read-only, while this node loads a long
  // interview's document (it joined late): the node sends the code as it
  // reads, then the document, which the page loads itself.
  let preview = null;
  const showPreview = (m) => {
    const v = m.view || {};
    if (m.doc !== "shared" || view || finalShown || !v.files) return;
    const names = Object.keys(v.files).sort();
    const file = names.includes(v.active) ? v.active : names[0];
    if (!file) return;
    const language = LANGS[v.languages?.[file]] ? v.languages[file] : BY_EXT[file.split(".").pop()] || "text";
    preview?.destroy();
    preview = new EditorView({
      doc: v.files[file],
      extensions: [basicSetup, LANGS[language][1](), readOnly(true),
        EditorView.contentAttributes.of({ "aria-label": `Code editor: ${file} (loading)` })],
      parent: editorEl,
    });
    tabsDrawn = "";
    clear(tabs).append(h("span", { class: "muted", id: "loading-code" }, `${file}: loading the interview's history…`));
  };
  function openFile(file) {
    if (finalShown) return;
    const shared = channel.doc("shared");
    preview?.destroy();
    preview = null;
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
    view.parleyReadOnly = isReadOnly();
    drawCursors();
    drawTabs();
    drawRun();
  }
  let tabsDrawn = "";
  function drawTabs() {
    const doc = channel.doc("shared").doc;
    const files = Object.keys(doc.files || {}).sort();
    // Each keystroke comes here: the tabs are drawn again only when they
    // changed (new DOM costs CodeMirror a layout of the page).
    const key = JSON.stringify([files, current, role]);
    if (key === tabsDrawn) return;
    tabsDrawn = key;
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
    if (finalShown) return;
    const doc = channel.doc("shared").doc;
    const files = Object.keys(doc.files || {}).sort();
    if (wanted && files.includes(wanted)) {
      openFile(wanted);
      wanted = null;
    } else if (!current || !files.includes(current)) {
      const active = scalar(doc.active);
      openFile(files.includes(active) ? active : files[0] || null);
    } else if (view && languageOf(doc, current) !== view.fileLanguage) {
      const l = languageOf(doc, current);
      view.fileLanguage = l;
      langPick.value = l;
      view.dispatch({ effects: lang.reconfigure(LANGS[l][1]()) });
      drawRun();
    }
    if (!questionView && !finalShown && doc.question !== undefined) {
      const c = new Compartment();
      questionView = new EditorView({
        doc: String(doc.question),
        extensions: [EditorView.lineWrapping, c.of(readOnly(role !== "interviewer")),
          placeholder(role === "interviewer" ? "Write the question here (Markdown). The candidate sees it once the interview starts."
            : "No question written: your interviewer asks it."),
          automergeSyncPlugin({ handle: channel.doc("shared").handle(["question"]), path: ["question"] }),
          EditorView.contentAttributes.of({ "aria-label": "Question" })],
        parent: questionEl,
      });
      questionView.editableCompartment = c;
      questionView.parleyReadOnly = isReadOnly(role !== "interviewer");
    }
    drawTabs();
  };
  const onPrivate = () => {
    const doc = channel.doc("private").doc;
    if (notesView || finalShown || doc.notes === undefined) return;
    const c = new Compartment();
    notesView = new EditorView({
      doc: String(doc.notes),
      extensions: [EditorView.lineWrapping, c.of(readOnly(role !== "interviewer")),
        placeholder("Your notes, in Markdown: what the candidate did and said. Other interviewers see them; the candidate never does."),
        automergeSyncPlugin({ handle: channel.doc("private").handle(["notes"]), path: ["notes"] }),
        EditorView.contentAttributes.of({ "aria-label": "Private notes" })],
      parent: notesEl,
    });
    notesView.editableCompartment = c;
    notesView.parleyReadOnly = isReadOnly(role !== "interviewer");
  };

  langPick.addEventListener("change", async () => {
    if (!current) return;
    try {
      await post(`/sessions/${id}/doc/shared`, { edits: [{ op: "language", name: current, lang: langPick.value }] });
    } catch (e) {
      showError(`Language: ${e.message}`);
    }
  });
  function closeNewFile() {
    newFileForm.hidden = true;
    addFile.setAttribute("aria-expanded", "false");
    newFileError.textContent = "";
  }
  addFile.addEventListener("click", () => {
    if (!newFileForm.hidden) {
      closeNewFile();
      return;
    }
    newFileForm.hidden = false;
    addFile.setAttribute("aria-expanded", "true");
    newName.value = "";
    newName.focus();
  });
  newFileForm.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      closeNewFile();
      addFile.focus();
    }
  });
  newFileForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = newName.value.trim();
    if (!name) return;
    const doc = channel.doc("shared").doc;
    if (doc.files && name in doc.files) {
      newFileError.textContent = `${name} exists: pick another name.`;
      return;
    }
    const lang = BY_EXT[name.split(".").pop()];
    try {
      await post(`/sessions/${id}/doc/shared`, { edits: [{ op: "add", name, lang }] });
      closeNewFile();
      wanted = name; // opened once the page's copy has it
      onShared();
    } catch (err) {
      newFileError.textContent = err.message;
    }
  });

  // showFinal shows what the interview ended with, in place of the
  // editors: the question and each file as text (the documents no longer
  // change), and for an interviewer the notes to write the feedback from.
  async function showFinal() {
    finalShown = true;
    for (const v of [view, questionView, notesView]) v?.destroy();
    view = questionView = notesView = null;
    current = null;
    question.hidden = toolbar.hidden = editorEl.hidden = true;
    clear(questionEl);
    clear(editorEl);
    final.hidden = false;
    try {
      // A guest's page has no API: its own copy of the document is final.
      const v = guest ? finalOf(channel?.doc("shared").doc) : await get(`/sessions/${id}/doc/shared`);
      clear(final);
      if (v.question) final.append(h("h2", {}, "Question"), h("pre", { class: "final-question" }, v.question));
      const fs = Object.keys(v.files || {}).sort();
      final.append(h("h2", {}, "Final code"));
      if (!fs.length) final.append(h("p", { class: "muted" }, "No code was written."));
      for (const f of fs) {
        final.append(h("h3", {}, f), v.files[f] ? h("pre", { class: "final-code", dataset: { file: f } }, v.files[f])
          : h("p", { class: "muted final-code-empty", dataset: { file: f } }, "(empty)"));
      }
    } catch {
      clear(final).append(h("p", { class: "muted" }, "This node kept no copy of the code: the company node archives it."));
    }
    if (role === "interviewer") {
      // The notes, to write the feedback from; they no longer change.
      try {
        const n = await get(`/sessions/${id}/notes`);
        notes.hidden = false;
        clear(notesEl).append(h("pre", { class: "final-notes", id: "final-notes" }, n.text || "(no notes)"));
      } catch {
        // This node kept no notes.
      }
    }
  }

  // The camera and microphone start at once; the call once the channel's
  // socket is open.
  if (builtInCall() && !ended) ensureCall().preview();
  const handlers = {
    onHello(m) {
      performance.mark("parley:hello");
      me = m.you?.peer || me;
      role = m.role || role;
      docs = m.docs || [];
      if (m.session) session = m.session;
      langPick.disabled = role !== "interviewer";
      channel.doc("shared").listeners.add(onShared);
      if (docs.includes("private")) channel.doc("private").listeners.add(onPrivate);
      if (early) onShared(); // what came before these listeners
      drawSession();
      runs.reset(); // the new socket brings the runs again
      drawCall();
    },
    onRun(ev) {
      runs.event(ev);
    },
    onPreview: showPreview,
    onState(m) {
      if (m.error) {
        // The node left the session, or it ended: the socket closes.
        if (m.session) {
          session = m.session;
          drawSession();
          drawCall();
          return;
        }
        if (!guest) get("/sessions/" + encodeURIComponent(id)).then((s) => { session = s; drawSession(); drawCall(); }).catch(() => {});
        return;
      }
      // A state message comes with every caret moved: the session, left
      // out when it did not change, is drawn again only when it did, and
      // the call only when who is in it changed.
      if (m.session) {
        session = m.session;
        drawSession();
      }
      cursors = m.cursors || [];
      drawCursors();
      const media = JSON.stringify(m.media || []);
      if (m.session || media !== mediaDrawn) drawCall(m.media || []);
      mediaDrawn = media;
    },
    onMedia(m) {
      call?.offer(m.sdp, m.ice_servers).catch((e) => showError(`Call: ${e.message}`));
    },
    onError: showError,
    onStatus(s, reason) {
      performance.mark("parley:" + s);
      if (s === "refused") {
        // The gateway will not take this page again (the seat went to
        // another device, the interview ended).
        conn.textContent = "";
        clear(banner).append(reason || "Disconnected.", " To come back, open your interview link again.");
        banner.className = "banner ended";
        return;
      }
      // "closed": the node closed the socket for good (the session ended,
      // or this node left): nothing is reconnecting.
      conn.textContent = s === "disconnected" ? (guest ? "Reconnecting…" : "Reconnecting to this node…") : "";
      if (s === "connected") {
        // A new socket: a new leg (the node closed the old one with the
        // old socket). The hello need not be waited for.
        if (call) call.started = false;
        drawCall();
      }
      if (s !== "connected" && !guest) {
        get("/sessions/" + encodeURIComponent(id)).then((x) => { session = x; drawSession(); }).catch(() => {});
      }
    },
  };
  if (early) {
    channel = early.channel;
    channel.on = handlers;
  } else channel = new Channel(id, handlers);
  // For scripts and the browser tests: what the editor holds, and the
  // channel to the node.
  window.parleyChannel = channel;
  window.parleyRoom = {
    file: () => current,
    text: () => view?.state.doc.toString() ?? null,
    notes: () => notesView?.state.doc.toString() ?? null,
    colorsFor, // how the room colors people
  };
  drawSession();
  if (early) handlers.onHello(early.hello);
  if (ended) {
    channel.close();
    if (!guest) get(`/sessions/${id}/runs`).then((l) => runs.load(l)).catch(() => {});
  }
}

// finalOf is what a document view of the API gives (the question and the
// files as text), from the page's own copy of the shared document.
function finalOf(doc) {
  if (!doc) throw new Error("no document");
  const files = {};
  for (const [name, text] of Object.entries(doc.files || {})) files[name] = String(text);
  return { question: doc.question === undefined ? "" : String(doc.question), files };
}
