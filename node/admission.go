package node

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Admission (/parley/admit/1) runs between two nodes of a session each time
// they meet. Both prove that they know the session secret without revealing
// it (an HMAC, keyed with the admission key derived from the secret, over
// both peer IDs and fresh nonces), then each presents itself: a name, and a
// team credential (an interviewer) or a company signature (the company
// node). Each side decides the other's role from that proof alone, never
// from what the user claims, and admits or refuses it.
//
//	initiator                          responder
//	hello{tag, nonce}            ->
//	                             <-    challenge{nonce, proof}
//	proof{proof, intro, state}   ->
//	                             <-    verdict{admitted, intro, state}
//	ack{admitted}                ->
//
// The responder proves first, so a stranger learns nothing about the
// initiator; the initiator presents itself only to a peer that proved the
// secret. Both sides send their control records (seat, start, end) and the
// company's revocation list, so that a newcomer learns at once that a
// session ended or whose the seat is.

// AdmitProtocol is the libp2p protocol ID of admission.
const AdmitProtocol = "/parley/admit/1"

// maxAdmitFrame bounds an admission message.
const maxAdmitFrame = 64 << 10

const nonceSize = 32

type admitHello struct {
	V     int    `json:"v"`
	Tag   string `json:"tag"`
	Nonce []byte `json:"nonce"`
}

type admitChallenge struct {
	Nonce []byte `json:"nonce"`
	Proof []byte `json:"proof"`
}

type admitProof struct {
	Proof []byte     `json:"proof"`
	Intro intro      `json:"intro"`
	State admitState `json:"state"`
}

type admitVerdict struct {
	Admitted bool       `json:"admitted"`
	Code     string     `json:"code,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Intro    *intro     `json:"intro,omitempty"`
	State    admitState `json:"state"`
}

type admitAck struct {
	Admitted bool   `json:"admitted"`
	Code     string `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// intro is how a node presents itself.
type intro struct {
	Name       string    `json:"name"`
	Since      time.Time `json:"since"`                 // when it joined the session
	Credential string    `json:"credential,omitempty"`  // team credential: an interviewer
	CompanySig []byte    `json:"company_sig,omitempty"` // company key over the transcript: the company node
	// Runner is what the node runs for the session, if it is a runner
	// (see run.go); believed of the company node and interviewers only.
	Runner *runnerOffer `json:"runner,omitempty"`
}

// admitState is what a node knows of a session's control state.
type admitState struct {
	Records     []signedRecord `json:"records,omitempty"`
	Revocations string         `json:"revocations,omitempty"` // the company's signed revocation list
	// Credential is, on a document stream to an interviewer or the company
	// node only, the sender's whole team credential: its email, which the
	// public form in intros and records leaves out.
	Credential string `json:"credential,omitempty"`
}

// Refusal codes.
const (
	refuseEnded             = "ended"
	refuseSeatTaken         = "seat_taken"
	refuseInterviewersFull  = "interviewers_full"
	refuseCandidateUnneeded = "candidate_to_candidate"
	refuseBadIntro          = "bad_intro"
	refuseBadCredential     = "bad_credential" // a team credential that does not hold
	refuseRevoked           = "revoked"        // a team credential the company revoked
	refuseNotNamed          = "not_named"      // a team member the session does not name
)

// RefusedError is a refusal by another node of the session.
type RefusedError struct {
	Code   string
	Reason string
	By     peer.ID
}

func (e *RefusedError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrSessionEnded) hold for an "ended" refusal.
func (e *RefusedError) Is(target error) bool {
	return target == ErrSessionEnded && e.Code == refuseEnded
}

// decision is one side's verdict on the other.
type decision struct {
	admit  bool
	code   string
	reason string
}

// handshake is one admission, from one side.
type handshake struct {
	key    [32]byte
	tag    string
	local  peer.ID
	remote peer.ID
	// introduce returns this node's intro for a transcript.
	introduce func(transcript []byte) intro
	// state returns this node's control state.
	state func() admitState
	// judge decides on the other side from its intro and state (which it
	// merges first), given the transcript.
	judge func(theirs intro, st admitState, transcript []byte) decision
}

// admitResult is what a completed handshake learned.
type admitResult struct {
	intro      intro
	transcript []byte
}

func (h *handshake) mac(label string, initiator, responder peer.ID, ni, nr []byte) []byte {
	m := hmac.New(sha256.New, h.key[:])
	fmt.Fprintf(m, "parley/1 admit %s\x00%s\x00", label, h.tag)
	m.Write([]byte(initiator))
	m.Write([]byte{0})
	m.Write([]byte(responder))
	m.Write(ni)
	m.Write(nr)
	return m.Sum(nil)
}

// transcript identifies one handshake, for company signatures.
func transcript(tag string, initiator, responder peer.ID, ni, nr []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "parley/1 admit transcript\x00%s\x00", tag)
	h.Write([]byte(initiator))
	h.Write([]byte{0})
	h.Write([]byte(responder))
	h.Write(ni)
	h.Write(nr)
	return h.Sum(nil)
}

// companyMessage is what the company key signs to present the company node
// in a handshake.
func companyMessage(transcript []byte, signer peer.ID) []byte {
	return append(append([]byte("parley/1 company\x00"), transcript...), signer...)
}

func signCompany(key ed25519.PrivateKey, transcript []byte, signer peer.ID) []byte {
	return ed25519.Sign(key, companyMessage(transcript, signer))
}

var errProof = errors.New("peer does not know the session secret")

// initiate runs the initiator's side over rw.
func (h *handshake) initiate(rw io.ReadWriter) (admitResult, error) {
	r := bufio.NewReader(rw)
	ni := make([]byte, nonceSize)
	rand.Read(ni)
	if err := writeFrame(rw, admitHello{V: 1, Tag: h.tag, Nonce: ni}); err != nil {
		return admitResult{}, err
	}
	var ch admitChallenge
	if err := readFrame(r, maxAdmitFrame, &ch); err != nil {
		return admitResult{}, err
	}
	if len(ch.Nonce) != nonceSize {
		return admitResult{}, fmt.Errorf("admission: bad nonce")
	}
	if !hmac.Equal(ch.Proof, h.mac("responder", h.local, h.remote, ni, ch.Nonce)) {
		return admitResult{}, errProof
	}
	tr := transcript(h.tag, h.local, h.remote, ni, ch.Nonce)
	proof := admitProof{Proof: h.mac("initiator", h.local, h.remote, ni, ch.Nonce), Intro: h.introduce(tr), State: h.state()}
	if err := writeFrame(rw, proof); err != nil {
		return admitResult{}, err
	}
	var v admitVerdict
	if err := readFrame(r, maxAdmitFrame, &v); err != nil {
		return admitResult{}, err
	}
	if !v.Admitted {
		// Their state still counts: an end or a seat is news.
		h.judge(intro{}, v.State, tr)
		return admitResult{}, &RefusedError{Code: v.Code, Reason: v.Reason, By: h.remote}
	}
	if v.Intro == nil {
		return admitResult{}, fmt.Errorf("admission: verdict without intro")
	}
	d := h.judge(*v.Intro, v.State, tr)
	if err := writeFrame(rw, admitAck{Admitted: d.admit, Code: d.code, Reason: d.reason}); err != nil {
		return admitResult{}, err
	}
	if !d.admit {
		return admitResult{}, &RefusedError{Code: d.code, Reason: "refused " + h.remote.String() + ": " + d.reason, By: h.local}
	}
	return admitResult{intro: *v.Intro, transcript: tr}, nil
}

// respond runs the responder's side over rw, the hello already read.
func (h *handshake) respond(rw io.ReadWriter, r *bufio.Reader, hello admitHello) (admitResult, error) {
	if len(hello.Nonce) != nonceSize {
		return admitResult{}, fmt.Errorf("admission: bad nonce")
	}
	nr := make([]byte, nonceSize)
	rand.Read(nr)
	ni := hello.Nonce
	if err := writeFrame(rw, admitChallenge{Nonce: nr, Proof: h.mac("responder", h.remote, h.local, ni, nr)}); err != nil {
		return admitResult{}, err
	}
	var p admitProof
	if err := readFrame(r, maxAdmitFrame, &p); err != nil {
		return admitResult{}, err
	}
	if !hmac.Equal(p.Proof, h.mac("initiator", h.remote, h.local, ni, nr)) {
		return admitResult{}, errProof
	}
	tr := transcript(h.tag, h.remote, h.local, ni, nr)
	d := h.judge(p.Intro, p.State, tr)
	v := admitVerdict{Admitted: d.admit, Code: d.code, Reason: d.reason, State: h.state()}
	if d.admit {
		mine := h.introduce(tr)
		v.Intro = &mine
	}
	if err := writeFrame(rw, v); err != nil {
		return admitResult{}, err
	}
	if !d.admit {
		return admitResult{}, &RefusedError{Code: d.code, Reason: d.reason, By: h.local}
	}
	var ack admitAck
	if err := readFrame(r, maxAdmitFrame, &ack); err != nil {
		return admitResult{}, err
	}
	if !ack.Admitted {
		return admitResult{}, &RefusedError{Code: ack.Code, Reason: ack.Reason, By: h.remote}
	}
	return admitResult{intro: p.Intro, transcript: tr}, nil
}

// readHello reads the first admission message.
func readHello(r *bufio.Reader) (admitHello, error) {
	var hello admitHello
	if err := readFrame(r, maxAdmitFrame, &hello); err != nil {
		return hello, err
	}
	if hello.V != 1 {
		return hello, fmt.Errorf("admission: unsupported version %d", hello.V)
	}
	return hello, nil
}
