package invite

import (
	"errors"
	"fmt"
)

// Sentinel errors name the check that failed; test for them with errors.Is.
// The error values returned carry a message meant for the user, saying what
// was wrong and what to do.
var (
	ErrMalformed          = errors.New("malformed")
	ErrUnsupportedVersion = errors.New("unsupported version")
	ErrBadSignature       = errors.New("bad signature")
	ErrWrongIssuer        = errors.New("wrong issuer")
	ErrNotYetValid        = errors.New("not yet valid")
	ErrExpired            = errors.New("expired")
	ErrWrongPeer          = errors.New("issued for another peer")
	ErrRevoked            = errors.New("revoked")
)

// CheckError is a failed check: Check is one of the sentinel errors above,
// and the message explains it to the user.
type CheckError struct {
	Check error
	msg   string
}

func (e *CheckError) Error() string { return e.msg }
func (e *CheckError) Unwrap() error { return e.Check }

func checkErr(check error, format string, args ...any) error {
	return &CheckError{Check: check, msg: fmt.Sprintf(format, args...)}
}
