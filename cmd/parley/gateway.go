package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"time"

	"parley/gateway"
	"parley/node"
)

// gatewayFlags are up's flags for the public gateway.
type gatewayFlags struct {
	listen      string
	tlsCert     string
	tlsKey      string
	acmeDomain  string
	acmeEmail   string
	behindProxy bool
	proxyFrom   listFlag
	maxGuests   int
	grace       time.Duration
	publicIP    listFlag
}

func (gf *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&gf.listen, "public-listen", "", "company node: serve the public gateway for browser guests on this `ADDRESS` (for example :443)")
	fs.StringVar(&gf.tlsCert, "tls-cert", "", "gateway: the TLS certificate `FILE` (PEM, with its chain)")
	fs.StringVar(&gf.tlsKey, "tls-key", "", "gateway: the certificate's private key `FILE` (PEM)")
	fs.StringVar(&gf.acmeDomain, "acme-domain", "", "gateway: get the certificate of this `DOMAIN` from Let's Encrypt, cached in DATA/acme")
	fs.StringVar(&gf.acmeEmail, "acme-email", "", "gateway: the ACME account's contact `EMAIL`")
	fs.BoolVar(&gf.behindProxy, "behind-proxy", false, "gateway: plain HTTP, for a reverse proxy that terminates TLS")
	fs.Var(&gf.proxyFrom, "proxy-from", "gateway: `ADDRESS` (or CIDR) of the reverse proxy, whose X-Forwarded-For and X-Forwarded-Proto are believed (repeatable; default 127.0.0.1 and ::1)")
	fs.IntVar(&gf.maxGuests, "max-guests", gateway.DefaultMaxGuests, "gateway: most browser guests (hosted participants) at once (`N`)")
	gf.grace = gateway.DefaultGrace
	fs.Var(durationFlag{&gf.grace}, "guest-grace", "gateway: a guest's participant leaves this `DURATION` after its browser went")
	fs.Var(&gf.publicIP, "public-ip", "gateway: the public `IP` of a machine behind 1:1 NAT, for the guests' calls (repeatable)")
}

// check checks the gateway flags against each other.
func (gf *gatewayFlags) check(fs *flag.FlagSet) error {
	if gf.listen == "" {
		for _, name := range []string{"tls-cert", "tls-key", "acme-domain", "acme-email", "behind-proxy", "proxy-from", "max-guests", "guest-grace", "public-ip"} {
			if isFlagSet(fs, name) {
				return usagef("--%s is a setting of the public gateway: give --public-listen ADDRESS too", name)
			}
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(gf.listen); err != nil {
		return usagef("--public-listen %q is not HOST:PORT (for example :443 or 0.0.0.0:443)", gf.listen)
	}
	modes := 0
	if gf.tlsCert != "" || gf.tlsKey != "" {
		modes++
		if gf.tlsCert == "" || gf.tlsKey == "" {
			return usagef("--tls-cert and --tls-key go together: the certificate and its key")
		}
	}
	if gf.acmeDomain != "" || gf.acmeEmail != "" {
		modes++
		if gf.acmeDomain == "" || gf.acmeEmail == "" {
			return usagef("--acme-domain and --acme-email go together: the domain to certify and the account's contact")
		}
	}
	if gf.behindProxy {
		modes++
	}
	if modes != 1 {
		return usagef("--public-listen needs exactly one of: --tls-cert FILE --tls-key FILE; --acme-domain DOMAIN --acme-email EMAIL; --behind-proxy")
	}
	if len(gf.proxyFrom) > 0 && !gf.behindProxy {
		return usagef("--proxy-from names the reverse proxy of --behind-proxy")
	}
	if gf.maxGuests < 1 {
		return usagef("--max-guests must be at least 1")
	}
	if gf.grace < time.Second {
		return usagef("--guest-grace must be at least 1s")
	}
	for _, ip := range gf.publicIP {
		if _, err := netip.ParseAddr(ip); err != nil {
			return usagef("--public-ip %q is not an IP address", ip)
		}
	}
	if _, err := gf.proxies(); err != nil {
		return err
	}
	return nil
}

// proxies are the trusted proxies' addresses.
func (gf *gatewayFlags) proxies() ([]netip.Prefix, error) {
	if !gf.behindProxy {
		return nil, nil
	}
	from := gf.proxyFrom
	if len(from) == 0 {
		from = listFlag{"127.0.0.1", "::1"}
	}
	var out []netip.Prefix
	for _, s := range from {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usagef("--proxy-from %q is not an IP address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// startGateway starts the public gateway of the company node n; its Serve
// error goes to failed.
func (c *cli) startGateway(n *node.Node, info node.Info, gf gatewayFlags, failed chan<- error) (*gateway.Gateway, string, error) {
	if info.Org == "" {
		return nil, "", fmt.Errorf("--public-listen: only the company node serves a public gateway, for its own interviews; this node (%s) has no company key", n.Dir())
	}
	var tlsCfg *tls.Config
	var err error
	switch {
	case gf.tlsCert != "":
		tlsCfg, err = gateway.TLSFromFiles(gf.tlsCert, gf.tlsKey)
	case gf.acmeDomain != "":
		tlsCfg, err = gateway.ACME(n.Dir(), gf.acmeDomain, gf.acmeEmail)
	}
	if err != nil {
		return nil, "", err
	}
	if gf.behindProxy {
		if info.PublicURL == "" {
			fmt.Fprintf(c.stderr, "Warning: %s\n", gateway.Disagreement("", "", nil))
		}
	} else if d := gateway.Disagreement(info.PublicURL, gf.acmeDomain, tlsCfg); d != "" {
		fmt.Fprintf(c.stderr, "Warning: %s\n", d)
	}
	proxies, _ := gf.proxies()
	gw, err := gateway.New(gateway.Config{
		Company: n, Logger: c.logger(), TLS: tlsCfg, TrustedProxies: proxies,
		MaxGuests: gf.maxGuests, Grace: gf.grace, PublicIPs: gf.publicIP,
	})
	if err != nil {
		return nil, "", err
	}
	l, err := net.Listen("tcp", gf.listen)
	if err != nil {
		gw.Close()
		return nil, "", fmt.Errorf("--public-listen: %w", err)
	}
	go func() { failed <- gw.Serve(l) }()
	scheme := "https://"
	if tlsCfg == nil {
		scheme = "http://"
	}
	return gw, scheme + l.Addr().String(), nil
}
