package invite

import "testing"

// BenchmarkParse measures checking a full link: decoding and signature.
func BenchmarkParse(b *testing.B) {
	key := testKey(1)
	link := AppLinkPrefix + sign(b, testInvite(key), key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(link); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(link)), "link-chars")
}

// BenchmarkCredentialCheck measures verifying a presented credential.
func BenchmarkCredentialCheck(b *testing.B) {
	key := testKey(1)
	c := testCredential(key)
	tok, err := c.Sign(key)
	if err != nil {
		b.Fatal(err)
	}
	want := CredentialCheck{Company: c.CompanyKey, Peer: c.Peer, Now: t0}
	b.ReportAllocs()
	for b.Loop() {
		got, err := ParseCredential(tok)
		if err != nil {
			b.Fatal(err)
		}
		if err := got.Check(want); err != nil {
			b.Fatal(err)
		}
	}
}
