package transforms

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
)

// The PII detectors against the libraries' own parsers: random phone
// numbers that libphonenumber calls valid, written in its national,
// international and E.164 formats, and random internationalised email
// addresses that net/mail accepts, each inside random text. extract must
// find exactly the value (the same number, the same address), and redact's
// mask must keep nothing of it but the hint (the last two digits; the
// domain).

// piiText runs one step over one text field and returns its output row;
// t is a *testing.T or a *rapid.T.
func piiText(t interface {
	Helper()
	Fatalf(string, ...any)
}, src, text string) []any {
	t.Helper()
	step, err := decodeStep(src, etl.BuildEnv{StepName: "steps[1]"})
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	b := etl.NewBatch(etl.MustSchema(etl.Field{Name: "text", Type: etl.TypeString}), 1)
	b.Cols[0].AppendString(text)
	b.Origins = append(b.Origins, etl.Origin{File: "in.csv", Line: 2})
	out, err := step.Apply(context.Background(), b)
	if err != nil {
		t.Fatalf("%s on %q: %v", src, text, err)
	}
	if out.Len() != 1 {
		t.Fatalf("%s on %q: %d rows", src, text, out.Len())
	}
	row := make([]any, len(out.Cols))
	for j := range out.Cols {
		row[j] = out.Cols[j].Value(0)
	}
	return row
}

// piiWords is text around a value: words without digits or @, so that
// nothing in it is personal data.
func piiWords(t *rapid.T, label string) string {
	words := rapid.SliceOfN(rapid.SampledFrom([]string{
		"call", "me", "on", "ruf", "an", "appelez", "moi", "au", "números", "não", "please", "thanks", "—", "(mobile)", "Tel.:",
	}), 0, 4).Draw(t, label)
	return strings.Join(words, " ")
}

var piiRegions = []string{"US", "GB", "DE", "FR", "IN", "BR"}

// drawPhone is a valid number of one of piiRegions: the region's example
// number of a drawn type with its last digits drawn, kept when
// libphonenumber still calls it valid there.
func drawPhone(t *rapid.T) (*phonenumbers.PhoneNumber, string) {
	region := rapid.SampledFrom(piiRegions).Draw(t, "region")
	typ := rapid.SampledFrom([]phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE}).Draw(t, "type")
	ex := phonenumbers.GetExampleNumberForType(region, typ)
	if ex == nil {
		t.Fatalf("no example %v number for %s", typ, region)
	}
	nsn := phonenumbers.GetNationalSignificantNumber(ex)
	tail := rapid.StringMatching(`[0-9]{4}`).Draw(t, "last digits")
	num := ex
	if cand, err := phonenumbers.Parse(nsn[:len(nsn)-4]+tail, region); err == nil && phonenumbers.IsValidNumberForRegion(cand, region) {
		num = cand
	}
	return num, region
}

func TestPhoneDetectionAgainstLibphonenumber(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		num, region := drawPhone(t)
		format := rapid.SampledFrom([]phonenumbers.PhoneNumberFormat{phonenumbers.NATIONAL, phonenumbers.INTERNATIONAL, phonenumbers.E164}).Draw(t, "format")
		written := phonenumbers.Format(num, format)
		text := strings.TrimSpace(piiWords(t, "before") + " " + written + " " + piiWords(t, "after"))

		got := piiText(t, `extract: { p: { from: text, pattern: phone } }`, text)[1]
		s, ok := got.(string)
		if !ok {
			t.Fatalf("extract found no phone number in %q (%s number of %s)", text, phonenumbers.Format(num, phonenumbers.E164), region)
		}
		back, err := phonenumbers.Parse(s, region)
		if err != nil || phonenumbers.Format(back, phonenumbers.E164) != phonenumbers.Format(num, phonenumbers.E164) {
			t.Fatalf("extract found %q in %q, want the number %s (written %q)", s, text, phonenumbers.Format(num, phonenumbers.E164), written)
		}

		masked := piiText(t, `redact: { fields: [text], patterns: [phone] }`, text)[0].(string)
		if d := phoneDigits(masked); d != 2 {
			t.Fatalf("redact kept %d digits of %q: %q (want the last 2)", d, text, masked)
		}
		removed := piiText(t, `redact: { fields: [text], patterns: [phone], mode: remove }`, text)[0].(string)
		if !strings.Contains(removed, "[phone]") || phoneDigits(removed) != 0 {
			t.Fatalf("redact remove left %q of %q", removed, text)
		}
	})
}

// TestPhoneRegions: a national number is found in the regions named; one
// written with its country code is found whatever the regions.
func TestPhoneRegions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		num, region := drawPhone(t)
		national := phonenumbers.Format(num, phonenumbers.NATIONAL)
		src := fmt.Sprintf(`extract: { p: { from: text, pattern: phone, regions: [%s] } }`, region)
		if got := piiText(t, src, "tel "+national)[1]; got == nil {
			t.Fatalf("regions [%s]: %q not found", region, national)
		}
		intl := phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
		other := "JP"
		src = fmt.Sprintf(`extract: { p: { from: text, pattern: phone, regions: [%s] } }`, other)
		if got := piiText(t, src, "tel "+intl)[1]; got == nil {
			t.Fatalf("regions [%s]: %q (with its country code) not found", other, intl)
		}
	})
}

// drawEmail is an address whose local part and domain may hold letters of
// any script, accepted by net/mail.
func drawEmail(t *rapid.T) (addr, local, domain string) {
	letters := []rune("abcxyzABCXYZ0189éèçüößñøåЖжदीपक中文é")
	atom := rapid.StringOfN(rapid.SampledFrom(letters), 1, 8, -1)
	parts := rapid.SliceOfN(atom, 1, 3).Draw(t, "local parts")
	sep := rapid.SampledFrom([]string{".", "_", "+", "-"}).Draw(t, "separator")
	local = strings.Join(parts, sep)
	labels := rapid.SliceOfN(rapid.StringOfN(rapid.SampledFrom([]rune("abcxyz09büéж")), 1, 8, -1), 1, 2).Draw(t, "domain labels")
	tld := rapid.SampledFrom([]string{"com", "fr", "de", "io", "рф", "example"}).Draw(t, "tld")
	domain = strings.Join(labels, ".") + "." + tld
	addr = local + "@" + domain
	if _, err := mail.ParseAddress("<" + addr + ">"); err != nil {
		t.Skipf("net/mail refuses %q: %v", addr, err)
	}
	return addr, local, domain
}

func TestEmailDetectionAgainstNetMail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		addr, _, domain := drawEmail(t)
		text := strings.TrimSpace(piiWords(t, "before") + " " + addr + " " + piiWords(t, "after"))
		got := piiText(t, `extract: { e: { from: text, pattern: email } }`, text)[1]
		if got != addr {
			t.Fatalf("extract found %v in %q, want %q", got, text, addr)
		}
		masked := piiText(t, `redact: { fields: [text], patterns: [email] }`, text)[0].(string)
		want := strings.Replace(text, addr, "***@"+domain, 1)
		if masked != want {
			t.Fatalf("redact made %q of %q, want %q", masked, text, want)
		}
	})
}

// TestInternationalEmails are the cases: José's address was missed
// and François's came out as franço***@example.fr.
func TestInternationalEmails(t *testing.T) {
	for _, tc := range []struct{ text, found, masked string }{
		{"write to José@example.com today", "José@example.com", "write to ***@example.com today"},
		{"françois.dupont@example.fr", "françois.dupont@example.fr", "***@example.fr"},
		{"Émile <émile@bücher.de>", "émile@bücher.de", "Émile <***@bücher.de>"},
	} {
		if found := piiText(t, `extract: { e: { from: text, pattern: email } }`, tc.text)[1]; found != tc.found {
			t.Errorf("extract on %q = %v, want %q", tc.text, found, tc.found)
		}
		if masked := piiText(t, `redact: { fields: [text] }`, tc.text)[0]; masked != tc.masked {
			t.Errorf("redact on %q = %v, want %q", tc.text, masked, tc.masked)
		}
	}
}

// TestNotPhoneNumbers: digit runs that libphonenumber places in no plan
// (the old check took any 7 to 15 digits) and dates stay as they are.
func TestNotPhoneNumbers(t *testing.T) {
	for _, text := range []string{"order ORD 1234567", "total 12.500.000", "ref 1234567", "due 2026-12-05", "on 2026.12.05"} {
		if got := piiText(t, `extract: { p: { from: text, pattern: phone } }`, text)[1]; got != nil {
			t.Errorf("extract took %q in %q for a phone number", got, text)
		}
		if got := piiText(t, `redact: { fields: [text], patterns: [phone] }`, text)[0]; got != text {
			t.Errorf("redact made %q of %q", got, text)
		}
	}
}
