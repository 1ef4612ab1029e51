package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/crdt"
)

// chromium finds the browser for the end-to-end tests: $PARLEY_CHROMIUM,
// or Debian's chromium. .ci/run installs it.
func chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PARLEY_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Skip("browser tests skipped: no Chromium at /usr/bin/chromium (apt-get install chromium, as .ci/run does, or set PARLEY_CHROMIUM)")
	return ""
}

// tab is one user's page, in a Chromium of its own (its own profile,
// cookies and storage), headless, with the flags that work on this kind of
// machine (DESIGN.md).
type tab struct {
	t     testing.TB
	name  string
	ctx   context.Context
	shots int
}

func newTab(t testing.TB, name string, extra ...chromedp.ExecAllocatorOption) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1400, 900),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// Close the browser and wait for it, before its profile is removed.
	t.Cleanup(func() { chromedp.Cancel(ctx) })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	tb := &tab{t: t, name: name, ctx: ctx}
	// Dialogs: confirm() is accepted; the app asks nothing with prompt()
	// (a form does it), so one fails the test.
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			if d.Type == page.DialogTypePrompt {
				t.Errorf("%s: the page asked with prompt(): %q", name, d.Message)
			}
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	return tb
}

// run runs actions with a deadline, failing the test with a screenshot.
func (tb *tab) run(what string, actions ...chromedp.Action) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		tb.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// waitJS waits until a JavaScript expression is true, through page loads.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	deadline := time.Now().Add(25 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		var ok bool
		last = chromedp.Run(ctx, chromedp.Evaluate("!!("+expr+")", &ok))
		cancel()
		if last == nil && ok {
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-tb.ctx.Done():
		}
	}
	tb.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
	var tiles any
	chromedp.Run(tb.ctx, chromedp.Evaluate(`[JSON.stringify(window.parleyCall && window.parleyCall.slots)].concat([...document.querySelectorAll("figure.tile")].map(f => { const v = f.querySelector("video"); return [f.dataset.key, f.textContent, v.videoWidth, v.currentTime, v.paused, v.readyState, v.srcObject ? v.srcObject.getTracks().map(t => t.kind + ":" + t.readyState + ":" + t.muted).join(",") : "none"]; }))`, &tiles))
	tb.t.Logf("%s tiles: %v", tb.name, tiles)
	var text any
	chromedp.Run(tb.ctx, chromedp.Evaluate(`window.parleyRoom && window.parleyRoom.text()`, &text))
	var bar any
	chromedp.Run(tb.ctx, chromedp.Evaluate(`[...document.querySelectorAll(".run-bar, .error, [role=alert]")].map(e => e.textContent.trim()).filter(Boolean)`, &bar))
	tb.t.Fatalf("%s: %s: not within 25s (last error: %v; editor holds %q; run bar and alerts: %q)", tb.name, what, last, text, bar)
}

// beforeScripts has the tab run js in every page it loads from now on,
// before the page's own scripts.
func beforeScripts(js string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(js).Do(ctx)
		return err
	})
}

func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	tb.run("evaluate "+expr, chromedp.Evaluate(expr, out))
}

// shot keeps a screenshot as a test artifact (go test -artifacts keeps
// them under the output directory).
func (tb *tab) shot(name string) {
	var png []byte
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		return
	}
	tb.shots++
	os.WriteFile(filepath.Join(tb.t.ArtifactDir(), fmt.Sprintf("%s-%02d-%s.png", tb.name, tb.shots, name)), png, 0o644)
}

// typeText types into the editor at its end as a user would: focus, then
// text input (accents and emoji included, as an input method sends them).
func (tb *tab) typeText(text string) {
	tb.t.Helper()
	tb.run("type "+text,
		chromedp.Click(".editor .cm-content", chromedp.ByQuery),
		chromedp.KeyEvent(kb.End, chromedp.KeyModifiers(input.ModifierCtrl)), // to the end
		input.InsertText(text),
	)
}

func jsString(s string) string {
	return fmt.Sprintf("%q", s)
}

// The whole path in real browsers: the admin creates an interview in the
// dashboard and takes the link from the popup; an interviewer and a
// candidate, each with their own node and browser context, open it; the
// candidate waits in the lobby until the interviewer starts; both type,
// accents and emoji included, and see each other's text and named carets;
// the interviewer ends the interview and the candidate's page says so.
// On the way, what a person meets in their first hour (issue 16): the
// dashboard's tabs, actions and times, the form's limits, the invite emails
// of every block, the starter file, the New file form, the room's badge,
// favicon, placeholders, colors, carets on line 1, the scorecard, the
// timer, and the room after the end.
func TestBrowserInterview(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	d, err := startDemo(context.Background(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	base := func(u string) string { return u[:strings.Index(u[len("http://"):], "/")+len("http://")] }

	// The recruiter works in Paris: the form sends the browser's zone, and
	// the emails give times in it and in UTC.
	admin := newTab(t, "admin")
	admin.run("set the time zone", emulation.SetTimezoneOverride("Europe/Paris"))
	admin.run("open the dashboard", chromedp.Navigate(d.CompanyURL), chromedp.WaitVisible(`[role="tablist"]`, chromedp.ByQuery))
	admin.waitJS("the demo opens on the tab with its interview", `document.querySelector("#tab-live").getAttribute("aria-selected") === "true" && document.querySelector("tr[data-session]")`)
	admin.waitJS("times name their zone", `/GMT\+1|CET/.test(document.querySelector("td.when").textContent)`)
	admin.waitJS("a favicon", `document.querySelector("link[rel=icon]") && fetch(document.querySelector("link[rel=icon]").href).then(r => r.ok && r.headers.get("content-type").startsWith("image/"))`)
	admin.shot("dashboard")
	admin.run("new interview",
		chromedp.Click(`a[href="/new"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`input[name="candidate"]`, chromedp.ByQuery))
	// The form's limits are the command line's.
	var limits struct{ Blocks, Duration, MaxInt, Criteria, Language, Validity string }
	admin.eval(`({Blocks: document.querySelector("input[name=blocks]").max, Duration: document.querySelector("input[name=duration]").max,
		MaxInt: document.querySelector("input[name=max_interviewers]").max, Criteria: document.querySelector("input[name=criteria]").value,
		Language: document.querySelector("select[name=language]").value, Validity: document.querySelector("input[name=validity]").value + " " + document.querySelector("select[name=validity_unit]").value})`, &limits)
	if limits != (struct{ Blocks, Duration, MaxInt, Criteria, Language, Validity string }{"20", "1440", "16", "Problem solving, Code quality, Communication", "python", "7 days"}) {
		t.Fatalf("the form's limits and defaults: %+v", limits)
	}
	admin.run("fill the form",
		chromedp.SendKeys(`input[name="candidate"]`, "Zoë Quinn", chromedp.ByQuery),
		chromedp.SetValue(`input[name="title"]`, "Browser loop", chromedp.ByQuery),
		chromedp.SetValue(`input[name="blocks"]`, "2", chromedp.ByQuery),
		chromedp.Click(`input[name="interviewers"]`, chromedp.ByQuery),
	)
	admin.shot("new-interview")
	admin.run("save", chromedp.Click(`button[type="submit"].primary`, chromedp.ByQuery), chromedp.WaitVisible(`dialog .link-field`, chromedp.ByQuery))
	// Every block's link and emails: the candidate's says what Parley is
	// and how to open the link, in Paris time and UTC, naming Ana.
	admin.waitJS("the popup has both blocks' emails", `document.querySelectorAll("dialog .block-link").length === 2 &&
		[...document.querySelectorAll("dialog .block-link")].every(b => b.querySelector("textarea.candidate-email") && b.querySelector("textarea.interviewer-email"))`)
	var emails []string
	admin.eval(`[...document.querySelectorAll("dialog textarea.email")].map(e => e.value)`, &emails)
	for _, want := range []string{"Parley", "parley up", "With: Ana.", "UTC)", "CET (", "Browser loop, part 2 of 2"} {
		if !strings.Contains(strings.Join(emails, "\n"), want) {
			t.Errorf("the popup's emails lack %q", want)
		}
	}
	if len(emails) != 4 || !strings.Contains(emails[1], "Interviewers: Ana.") || !strings.Contains(emails[2], "part 2 of 2") {
		t.Fatalf("the popup's emails: %q", emails)
	}
	admin.shot("link-popup")
	var link string
	admin.eval(`document.querySelector("dialog .link-field").value`, &link)
	admin.run("copy the link", chromedp.Click(`dialog button.copy`, chromedp.ByQuery))
	admin.waitJS("the copy button says so", `document.querySelector("dialog button.copy").textContent === "Copied"`)
	if !strings.HasPrefix(link, "parley://join/") {
		t.Fatalf("the popup shows %q", link)
	}
	token := strings.TrimPrefix(link, "parley://join/")
	// The second block is cancelled from its row: it goes to the Cancelled
	// tab, not into Ended.
	admin.run("close the popup", chromedp.Click(`dialog form[method=dialog] button`, chromedp.ByQuery))
	admin.waitJS("the pending tab lists both blocks with their actions", `document.querySelector("#tab-pending").getAttribute("aria-selected") === "true" &&
		document.querySelectorAll("tr[data-session]").length === 2 &&
		[...document.querySelectorAll("tr[data-session]")].every(r => r.querySelector(".open-room") && r.querySelector(".email-button") && r.querySelector(".cancel-button"))`)
	admin.run("open a row's emails", chromedp.Click(`tr[data-session]:nth-child(2) .email-button`, chromedp.ByQuery))
	admin.waitJS("a row's Email shows its emails", `document.querySelector("dialog textarea.candidate-email") && document.querySelector("dialog textarea.candidate-email").value.includes("part 2 of 2")`)
	admin.run("close it", chromedp.Click(`dialog form[method=dialog] button`, chromedp.ByQuery))
	admin.run("cancel block 2", chromedp.Click(`tr[data-session]:nth-child(2) .cancel-button`, chromedp.ByQuery))
	admin.waitJS("block 2 is cancelled", `document.querySelector("#tab-cancelled").textContent === "Cancelled (1)" && document.querySelector("#tab-ended").textContent === "Ended (0)"`)

	join := func(tb *tab, pageURL, name string) {
		tb.run("sign in", chromedp.Navigate(pageURL))
		tb.run("open the link", chromedp.Navigate(base(pageURL)+"/join#"+token), chromedp.WaitVisible(`.facts`, chromedp.ByQuery))
		tb.shot("join")
		if name != "" {
			tb.run("name", chromedp.SetValue(`input[name="name"]`, name, chromedp.ByQuery))
		}
		tb.run("join", chromedp.Click(`//button[text()="Join interview"]`, chromedp.BySearch))
		tb.waitJS("the room opens", `location.pathname.startsWith("/s/") && !!document.querySelector(".room")`)
	}
	ana := newTab(t, "interviewer")
	join(ana, d.InterviewerURL, "")
	if !ana.isTrue(`!!document.querySelector("nav a[href='/team']")`) {
		t.Fatal("the interviewer's node has no Team tab")
	}
	cand := newTab(t, "candidate")
	cand.run("sign in", chromedp.Navigate(d.CandidateURL))
	// A candidate's node has no use for the Team page or the company key.
	cand.run("the join page", chromedp.Navigate(base(d.CandidateURL)+"/join#"+token), chromedp.WaitVisible(`.facts`, chromedp.ByQuery))
	if cand.isTrue(`!!document.querySelector("nav a[href='/team']") || document.querySelector(".facts").textContent.includes("key")`) {
		t.Fatal("the candidate's node shows the Team tab or the company key")
	}
	join(cand, d.CandidateURL, "Zoë Quinn")

	cand.waitJS("the candidate waits in the lobby", `!document.querySelector("#lobby").hidden && document.querySelector(".work").hidden`)
	// The badge is a badge, not the lobby section's box.
	cand.waitJS("the lobby badge is small", `(r => r.height < 30 && r.width < 100)(document.querySelector("#status").getBoundingClientRect())`)
	cand.shot("lobby")
	ana.waitJS("the interviewer sees the candidate waiting", `document.querySelector("#banner").textContent.includes("candidate is waiting")`)
	// The session starts with main.py, in Python: something to type in.
	ana.waitJS("the starter file is open", `window.parleyRoom.file() === "main.py" && document.querySelector("#language").value === "python"`)
	ana.waitJS("the question has a placeholder", `document.querySelector(".question-editor .cm-placeholder") && document.querySelector(".question-editor .cm-placeholder").textContent.includes("candidate sees it")`)
	// New file: a small form, not prompt().
	ana.run("add a file", chromedp.Click(`#add-file`, chromedp.ByQuery), chromedp.WaitVisible(`#new-file-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#new-file-name`, "test_greet.py"+kb.Enter, chromedp.ByQuery))
	ana.waitJS("the new file opens", `window.parleyRoom.file() === "test_greet.py" && document.querySelector("#new-file-form").hidden`)
	ana.run("back to main.py", chromedp.Click(`.file-tab[data-file="main.py"]`, chromedp.ByQuery))
	ana.waitJS("main.py is open", `window.parleyRoom.file() === "main.py"`)
	ana.typeText("def greet():\n    return \"héllo\"\n")
	ana.run("write the question", chromedp.Click(`.question-editor .cm-content`, chromedp.ByQuery), input.InsertText("Make greet() QUESTION-MARKER."))
	ana.shot("prepared")
	if !cand.isTrue(`document.querySelector(".work").hidden`) {
		t.Fatal("the candidate sees the code before the start")
	}
	// The candidate's lobby shows no error (its page's first sync message
	// is not refused).
	if cand.isTrue(`document.querySelector("#errors").textContent !== ""`) {
		var e string
		cand.eval(`document.querySelector("#errors").textContent`, &e)
		t.Fatalf("the candidate's lobby shows an error: %s", e)
	}
	// The company node's page watches: read-only, and says why.
	admin.run("open the room on the company node", chromedp.Navigate(base(d.CompanyURL)+"/s/"+sessionOf(t, d, token)))
	admin.waitJS("the company's room is read-only", `!document.querySelector("#company-note").hidden &&
		document.querySelector(".editor .cm-content") && document.querySelector(".editor .cm-content").getAttribute("contenteditable") === "false"`)
	ana.run("start", chromedp.Click(`#start`, chromedp.ByQuery))
	cand.waitJS("the editor opens for the candidate", `window.parleyRoom.text() === "def greet():\n    return \"héllo\"\n"`)
	ana.waitJS("the timer runs", `/^\d+:\d\d elapsed · (59|60):\d\d left$/.test(document.querySelector("#timer").textContent)`)

	cand.typeText("# Zoë was here 🙂\n")
	ana.typeText("# 世界\n")
	want := "def greet():\n    return \"héllo\"\n# Zoë was here 🙂\n# 世界\n"
	alt := "def greet():\n    return \"héllo\"\n# 世界\n# Zoë was here 🙂\n"
	same := fmt.Sprintf(`[%s, %s].includes(window.parleyRoom.text())`, jsString(want), jsString(alt))
	ana.waitJS("the interviewer sees both", same)
	cand.waitJS("the candidate sees both", same)
	var final string
	ana.eval(`window.parleyRoom.text()`, &final)
	cand.waitJS("identical text", `window.parleyRoom.text() === `+jsString(final))
	// The nodes hold it too, byte for byte.
	if v, err := d.Candidate.View(context.Background(), sessionOf(t, d, token), crdt.Shared); err != nil || v.Files["main.py"] != final {
		t.Fatalf("the candidate's node holds %q, %v", v.Files["main.py"], err)
	}
	ana.waitJS("the interviewer sees the candidate's named caret", `[...document.querySelectorAll(".cm-remote-name")].some(e => e.textContent === "Zoë Quinn")`)
	cand.waitJS("the candidate sees the interviewer's named caret", `[...document.querySelectorAll(".cm-remote-name")].some(e => e.textContent === "Ana")`)
	// On line 1, a caret's name shows whole, inside the editor.
	cand.run("to line 1", chromedp.Click(".editor .cm-content", chromedp.ByQuery), chromedp.KeyEvent(kb.Home, chromedp.KeyModifiers(input.ModifierCtrl)))
	ana.waitJS("the name on line 1 is inside the editor", `(() => {
		const l = [...document.querySelectorAll(".cm-remote-name")].find(e => e.textContent === "Zoë Quinn");
		const box = document.querySelector(".editor .cm-scroller").getBoundingClientRect();
		const r = l && l.getBoundingClientRect();
		return r && r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left && r.right <= box.right;
	})()`)
	// Everyone in the room has a color of their own, the same for their
	// dot and their caret; and the colors of eight people are eight.
	ana.waitJS("distinct colors", `(() => {
		const dots = [...document.querySelectorAll(".people .dot")].map(d => d.style.background);
		const caret = [...document.querySelectorAll(".cm-remote-name")].find(e => e.textContent === "Zoë Quinn");
		const eight = Object.values(window.parleyRoom.colorsFor([...Array(8)].map((_, i) => ({ peer: "12D3KooW" + Math.random().toString(36).slice(2), since: "2026-01-01T00:00:0" + i + "Z" }))));
		return dots.length === 2 && dots[0] !== dots[1] && caret && dots.includes(caret.style.backgroundColor) && new Set(eight).size === 8;
	})()`)
	ana.shot("typing")
	cand.shot("typing")

	// The interviewer takes the recorder's role and drafts the feedback;
	// the candidate's page has no feedback form at all.
	ana.waitJS("the feedback form shows", `document.querySelector("#claim-recorder")`)
	ana.waitJS("the scorecard's selects stay inside it", `(() => {
		const box = document.querySelector(".scorecard").getBoundingClientRect();
		const sels = [...document.querySelectorAll(".scorecard select")];
		return sels.length === 3 && sels.every(s => { const r = s.getBoundingClientRect(); return r.left >= box.left && r.right <= box.right; });
	})()`)
	ana.run("claim the recorder", clickFresh(`#claim-recorder`))
	ana.waitJS("the interviewer records the feedback", `document.querySelector("#recorder").textContent.includes("(you)")`)
	ana.run("draft the feedback",
		clickFresh(`input[name="recommendation"][value="yes"]`),
		chromedp.SetValue(`select[data-criterion="Problem solving"]`, "3", chromedp.ByQuery),
		chromedp.SendKeys(`#feedback-text`, "Clear thinking. FEEDBACK-MARKER", chromedp.ByQuery),
		chromedp.Click(`#save-draft`, chromedp.ByQuery))
	ana.waitJS("the draft is saved", `document.querySelector("#feedback-state").textContent.includes("Draft saved")`)
	if cand.isTrue(`!!document.querySelector("#feedback")`) {
		t.Fatal("the candidate's page has a feedback form")
	}

	long := "NOTES-MARKER: asked about tests " + strings.Repeat("and the candidate explained the edge cases well ", 12)
	if err := d.Interviewer.AppendNotes(context.Background(), sessionOf(t, d, token), long); err != nil {
		t.Fatal(err)
	}
	ana.waitJS("the notes show in the room", `window.parleyRoom.notes() && window.parleyRoom.notes().includes("NOTES-MARKER")`)
	ana.run("end the interview", chromedp.Click(`#end`, chromedp.ByQuery))
	cand.waitJS("the candidate's page says it ended", `document.querySelector("#banner").textContent.includes("has ended")`)
	ana.waitJS("the interviewer's page says it ended", `document.querySelector("#banner").textContent.includes("has ended")`)
	// The ended room: the final code and question as text, no editor, no
	// New file or language picker; who took part, not who is "here".
	endedRoom := `(() => {
		const final = document.querySelector("#final");
		const code = final && final.querySelector("pre.final-code[data-file='main.py']");
		const visible = (sel) => { const e = document.querySelector(sel); return e && e.offsetParent !== null; };
		return final && !final.hidden && code && code.textContent === ` + jsString(final) + ` &&
			final.querySelector(".final-question") && final.querySelector(".final-question").textContent.includes("QUESTION-MARKER") &&
			!visible("#editor") && !visible(".question-editor") && !visible("#add-file") && !visible("#language") && !visible("#new-file-form") &&
			document.querySelector("#people-heading").textContent === "Who took part" && document.querySelectorAll(".people li").length === 2 &&
			document.querySelector(".conn").textContent === "";
	})()`
	cand.waitJS("the candidate's ended room", endedRoom)
	ana.waitJS("the interviewer's ended room", endedRoom)
	cand.shot("ended")

	// Submitted after the end; the company's dashboard shows it arrived.
	ana.run("submit the feedback", chromedp.Click(`#submit-feedback`, chromedp.ByQuery))
	ana.waitJS("the company node recorded it", `document.querySelector("#feedback-state").textContent.includes("Recorded by")`)
	ana.shot("feedback-recorded")
	// Opened again after the end, the room shows the notes (wrapped) and
	// the feedback's fate; the candidate's would show neither.
	ana.run("reopen the room", chromedp.Reload())
	ana.waitJS("the ended room shows the notes", `document.querySelector("#final-notes") && document.querySelector("#final-notes").textContent.includes("NOTES-MARKER")`)
	ana.waitJS("the notes wrap", `(n => n.scrollWidth <= n.clientWidth + 1)(document.querySelector("#final-notes"))`)
	ana.waitJS("the reopened room is the ended room", endedRoom)
	ana.waitJS("the ended room shows the feedback's fate", `document.querySelector("#feedback-state") && document.querySelector("#feedback-state").textContent.includes("Recorded by")`)
	ana.shot("ended-reopened")
	var roomURL string
	ana.eval(`location.href`, &roomURL)
	ana.run("the interviewer's ended tab", chromedp.Navigate(base(d.InterviewerURL)+"/?tab=ended"))
	ana.waitJS("the interviewer's dashboard says the feedback was recorded", `[...document.querySelectorAll(".fb-cell .badge")].some(b => b.textContent === "Recorded")`)
	ana.waitJS("the ended tab says who came, not who is in", `[...document.querySelectorAll("th")].some(th => th.textContent === "Who came") && document.querySelector("#named-note")`)
	ana.run("back to the room", chromedp.Navigate(roomURL))
	admin.run("the ended tab", chromedp.Navigate(base(d.CompanyURL)+"/?tab=ended"))
	admin.waitJS("the ended tab shows the feedback", `document.querySelector(".open-feedback")`)
	admin.run("open the feedback", chromedp.Click(`.open-feedback`, chromedp.ByQuery))
	admin.waitJS("the feedback opens", `document.querySelector("#fb-recommendation") && document.querySelector("#fb-recommendation").textContent === "Yes" && document.querySelector("#fb-text").textContent.includes("FEEDBACK-MARKER") && document.querySelector("#feedback-facts").textContent.includes("Problem solving3 of 4")`)
	admin.shot("feedback")

	// The replay: the final code exactly, and the code at moments of the
	// history as the node has it.
	id := sessionOf(t, d, token)
	ana.run("open the replay", chromedp.Navigate(base(d.InterviewerURL)+"/r/"+id))
	ana.waitJS("the replay loads", `window.parleyReplay && window.parleyReplay.steps().length > 0`)
	ana.shot("replay")
	var steps []struct {
		Time string `json:"time"`
	}
	ana.eval(`window.parleyReplay.steps()`, &steps)
	compared := 0
	var moments []int // up to 40, evenly through the history, and the last
	for k := range 40 {
		if i := k * len(steps) / 40; len(moments) == 0 || i != moments[len(moments)-1] {
			moments = append(moments, i)
		}
	}
	for _, i := range append(moments, len(steps)-1) {
		at, err := time.Parse(time.RFC3339Nano, steps[i].Time)
		if err != nil {
			t.Fatal(err)
		}
		text, file, err := d.Interviewer.CodeAt(context.Background(), id, "", at)
		if err != nil {
			continue // no file yet at that moment
		}
		ana.eval(`window.parleyReplay.seek(`+jsString(steps[i].Time)+`)`, nil)
		var got struct{ File, Text string }
		ana.eval(`({File: window.parleyReplay.file(), Text: window.parleyReplay.text()})`, &got)
		if got.File != file || got.Text != text {
			t.Fatalf("replay at change %d of %d (%s): page shows %s %q, the node %s %q", i+1, len(steps), steps[i].Time, got.File, got.Text, file, text)
		}
		compared++
	}
	if compared < len(moments)/2 {
		t.Fatalf("the replay was compared with the node at %d moments of %d changes", compared, len(steps))
	}
	ana.waitJS("the replay names who typed", `[...document.querySelectorAll(".replay-legend li")].map(l => l.textContent).join("|") === "Ana (interviewer)|Zoë Quinn (candidate)"`)
	// The node's timeline names the pages' edits after their participants.
	tl, err := d.Interviewer.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]int{}
	for _, e := range tl {
		typed[e.Participant] += e.Inserted
	}
	if typed["Zoë Quinn"] != len([]rune("# Zoë was here 🙂\n")) || typed["Ana"] != len([]rune("def greet():\n    return \"héllo\"\n# 世界\nMake greet() QUESTION-MARKER.")) {
		t.Fatalf("the timeline says who typed what: %v", typed)
	}
	ana.run("play at 32x", chromedp.SetValue(`#replay-speed`, "32", chromedp.ByQuery), chromedp.Click(`#replay-play`, chromedp.ByQuery))
	ana.waitJS("the replay plays to the end", `!window.parleyReplay.playing() && window.parleyReplay.text() === `+jsString(final))

	// The Team page offers what `parley team add` does: a role and an
	// expiry.
	_, key, err := p2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bo, _ := peer.IDFromPublicKey(key)
	admin.run("the team page", chromedp.Navigate(base(d.CompanyURL)+"/team"), chromedp.WaitVisible(`select[name=role]`, chromedp.ByQuery))
	admin.waitJS("the team form's defaults", `document.querySelector("input[name=lifetime]").value === "90" && document.querySelector("select[name=lifetime_unit]").value === "days"`)
	admin.run("add an admin for 30 days",
		chromedp.SendKeys(`input[name=name]`, "Bo Chen", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=email]`, "bo@demo.test", chromedp.ByQuery),
		chromedp.SendKeys(`input[name=peer]`, bo.String(), chromedp.ByQuery),
		chromedp.SetValue(`select[name=role]`, "admin", chromedp.ByQuery),
		chromedp.SetValue(`input[name=lifetime]`, "30", chromedp.ByQuery),
		chromedp.Click(`form button[type=submit].primary`, chromedp.ByQuery))
	admin.waitJS("the member is added", `document.querySelector("textarea.token")`)
	team, err := d.Company.Team(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range team {
		if m.Email == "bo@demo.test" && (m.Role != "admin" || m.Expires.Sub(m.Issued) != 30*24*time.Hour) {
			t.Fatalf("the team page added %+v", m)
		}
	}

	// The link now explains itself: ended; and garbage is named as such.
	cand.run("open the ended link", chromedp.Navigate(base(d.CandidateURL)+"/join#"+token))
	cand.waitJS("the join page says it ended", `document.querySelector("[role=alert]") && document.querySelector("[role=alert]").textContent.includes("This interview has ended")`)
	cand.run("open a broken link", chromedp.Navigate(base(d.CandidateURL)+"/join#AUkKx"))
	cand.waitJS("the join page says the link is broken", `document.querySelector("[role=alert]") && /not|malformed|invalid|bad/i.test(document.querySelector("[role=alert]").textContent)`)
	cand.shot("broken-link")
}

func (tb *tab) isTrue(expr string) bool {
	var v bool
	tb.eval(expr, &v)
	return v
}

// sessionOf finds the session ID of a link token on the company node.
func sessionOf(t *testing.T, d *demo, token string) string {
	ss, err := d.Company.Sessions(context.Background(), "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if strings.HasSuffix(s.Link, token) {
			return s.ID
		}
	}
	t.Fatal("no session of the link")
	return ""
}

// The built-in call in real browsers, with Chromium's fake camera and
// microphone: three participants (two interviewers and the candidate), each
// page sends its camera to its own node and shows the two others' video
// playing (frames decoded, from getStats); mute shows on the others' tiles.
func TestBrowserCall(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	chromium(t)
	ctx := context.Background()
	dlog := slog.New(slog.DiscardHandler)
	d, err := startDemo(ctx, dlog, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	_, boWeb, err := d.addInterviewer(ctx, "Bo", "bo@demo.test", dlog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Interviewer.StartSession(ctx, d.Session); err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{"ana": d.InterviewerURL, "sam": d.CandidateURL, "bo": boWeb.PageURL("/s/" + d.Session)}
	tabs := map[string]*tab{}
	for name, u := range pages {
		tabs[name] = newTab(t, name)
		tabs[name].run("open the room", chromedp.Navigate(u))
	}
	for name, tb := range tabs {
		tb.waitJS(name+" sees two others' video playing", `window.parleyCall && window.parleyCall.stats().then(s => Object.values(s).filter(n => n > 10).length >= 2)`)
		// And on the page: two remote tiles whose video has a picture and
		// moves on.
		tb.waitJS(name+"'s remote tiles play", `(() => {
			window.seen ||= {};
			const v = [...document.querySelectorAll("figure.tile")].filter(f => f.dataset.key !== "self").map(f => [f.dataset.key, f.querySelector("video")]);
			return v.length === 2 && v.every(([k, x]) => {
				if (!(k in window.seen)) window.seen[k] = x.currentTime;
				return x.videoWidth > 0 && x.currentTime > window.seen[k] + 0.5;
			});
		})()`)
		tb.shot("call")
	}
	// A participant who comes back (a reload) sees the others again: how
	// soon is logged, from joining the call to each first frame shown.
	tabs["sam"].run("reload", chromedp.Reload())
	tabs["sam"].waitJS("sam sees both again", `window.parleyCall && window.parleyCall.firstFrames && Object.keys(window.parleyCall.firstFrames).length === 2`)
	var first map[string]float64
	tabs["sam"].eval(`window.parleyCall.firstFrames`, &first)
	var marks map[string]float64
	tabs["sam"].eval(`window.parleyCall.marks`, &marks)
	t.Logf("after a reload, first remote frames in ms after joining the call: %v (steps: %v)", first, marks)

	tabs["sam"].run("mute", chromedp.Click("#mic", chromedp.ByQuery))
	tabs["ana"].waitJS("the candidate's tile says muted", `[...document.querySelectorAll(".tile figcaption")].some(c => c.textContent.startsWith("Sam Doe") && c.textContent.includes("muted"))`)
	tabs["ana"].shot("muted")
}

// clickFresh clicks the element sel selects, as chromedp.Click does, but
// finds it again when the page drew it anew between the lookup and the
// click (the room redraws a part when the session's state changes; CDP then
// says "Could not find node with given id"). At most five tries.
func clickFresh(sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		for range 5 {
			err = chromedp.Click(sel, chromedp.ByQuery).Do(ctx)
			if err == nil || !strings.Contains(err.Error(), "Could not find node") {
				return err
			}
		}
		return err
	})
}
