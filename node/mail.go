package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"

	"parley/invite"
)

// SMTP configures how invite emails are sent.
type SMTP struct {
	// Addr is the server's HOST:PORT. The connection must be upgraded with
	// STARTTLS: Parley never sends an invite link in the clear.
	Addr string
	// From is the sender's address.
	From string
	// Username and Password, if set, authenticate to the server.
	Username string
	Password string
	// TLS, if set, configures the TLS client (for a private CA, say).
	TLS *tls.Config
}

// SendMail sends e to the address to through the server in cfg.
func SendMail(ctx context.Context, cfg SMTP, to string, e invite.Email) error {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %q is not HOST:PORT", cfg.Addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return fmt.Errorf("smtp: %q has no valid port", cfg.Addr)
	}
	if err := invite.CheckEmail(cfg.From); err != nil {
		return fmt.Errorf("smtp: sender: %v", err)
	}
	if err := invite.CheckEmail(to); err != nil {
		return fmt.Errorf("smtp: recipient: %v", err)
	}
	msg := mail.NewMsg()
	if err := msg.From(cfg.From); err != nil {
		return fmt.Errorf("smtp: sender: %w", err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	msg.Subject(e.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(mail.TypeTextPlain, e.Body)

	tlsConf := cfg.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	tlsConf = tlsConf.Clone()
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = host
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(tlsConf),
		mail.WithTimeout(30 * time.Second),
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: sending to %s through %s: %w", to, cfg.Addr, err)
	}
	return nil
}
