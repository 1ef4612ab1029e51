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

function languageOf(doc, file) {
  const set = doc.languages?.[file];
  if (set && LANGS[set]) return set;
  return BY_EXT[file.split(".").pop()] || "text";
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
        wait.remove();
        main.append(h("h1", {}, "Your interview"),
          h("p", { class: "error", role: "alert", id: "refused" }, said || reason),
          h("p", {}, "To come back, open your interview link again."));
        resolve(null);
      },
    });
  });
}

export async function room(main, id, info) {
  // A guest's channel opens first, while the WebAssembly compiles, and its
  // hello stands in for the API.
  const wasm = initWasm();
  const early = guest ? await guestChannel(main, id) : null;
  await wasm;
  if (guest && !early) return;
  let session = early ? early.hello.session : await get("/sessions/" + encodeURIComponent(id));
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

  let me = info?.peer;
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
  const drawCall = (slots) => {
    if (!builtInCall()) return;
    if (ended) {
      call?.stop();
      callEl.hidden = true;
      return;
    }
    if (!call) {
      call = new Call(callEl, channel, { onError: showError });
      window.parleyCall = call;
    }
    callEl.hidden = false;
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
      const [name, viaGateway] = plainName(p.name);
      people.append(h("li", {},
        h("span", { class: "dot", style: `background:${colorOf(p.peer)}`, "aria-hidden": "true" }),
        `${name}${p.peer === me ? " (you)" : ""}`, " ", h("span", { class: "muted" }, p.role),
        viaGateway && role !== "candidate" ? h("span", { class: "muted via-gateway", title: "Joined from a browser through the company's gateway: no Parley of their own" }, " · in a browser, through the company's gateway") : null));
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
      .map((c) => ({ name: plainName(c.name)[0] || "?", color: colorOf(c.peer), anchor: c.anchor, head: c.head }));
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

  const handlers = {
    onHello(m) {
      me = m.you?.peer || me;
      role = m.role || role;
      docs = m.docs || [];
      if (m.session) session = m.session;
      addFile.hidden = role !== "interviewer";
      langPick.disabled = role === "candidate";
      channel.doc("shared").listeners.add(onShared);
      if (docs.includes("private")) channel.doc("private").listeners.add(onPrivate);
      if (early) onShared(); // what came before these listeners
      drawSession();
      if (call) call.started = false; // a new socket: a new leg
      drawCall();
    },
    onState(m) {
      if (m.error) {
        // The node left the session: ended, or this node left.
        if (guest) {
          drawSession();
          drawCall();
          return;
        }
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
      call?.offer(m.sdp, m.ice_servers).catch((e) => showError(`Call: ${e.message}`));
    },
    onError: showError,
    onStatus(s, reason) {
      if (s === "refused") {
        // The gateway will not take this page again (the seat went to
        // another device, the interview ended).
        conn.textContent = "";
        clear(banner).append(reason || "Disconnected.", " To come back, open your interview link again.");
        banner.className = "banner ended";
        return;
      }
      conn.textContent = s === "connected" ? "" : guest ? "Reconnecting…" : "Reconnecting to this node…";
      if (s === "disconnected" && !guest) {
        get("/sessions/" + encodeURIComponent(id)).then((x) => { session = x; drawSession(); }).catch(() => {});
      }
    },
  };
  let channel;
  if (early) {
    channel = early.channel;
    channel.on = handlers;
  } else channel = new Channel(id, handlers);
  // For scripts and the browser tests: what the editor holds.
  window.parleyRoom = {
    file: () => current,
    text: () => view?.state.doc.toString() ?? null,
    notes: () => notesView?.state.doc.toString() ?? null,
  };
  drawSession();
  if (early) handlers.onHello(early.hello);
  if (ended && !guest) {
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
