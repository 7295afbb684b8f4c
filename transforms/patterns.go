package transforms

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// This file is the catalogue of PII patterns shared by redact, extract and
// validate: each has a regular expression that finds candidates in free
// text and, where one exists, a check that weeds out look-alikes (Luhn for
// card numbers, mod 97 for IBANs, libphonenumber's numbering plans for
// phone numbers).

// piiPattern is a named kind of personal data.
type piiPattern struct {
	name string
	re   *regexp.Regexp
	// valid confirms a candidate match; nil accepts every match.
	valid func(string) bool
	// label is what mask mode writes when it cannot keep a hint.
	label string
}

// The patterns are compiled on first use: compiled at start-up they cost
// every command, whether its job redacts or validates anything or not,
// about 2 ms of CPU (the Unicode classes of the email pattern most).
var (
	// An email address, internationalised (RFC 6531): letters of any
	// script in the local part and the domain (José@example.com,
	// françois@bücher.de).
	emailRe = lazyRegexp(emailExpr)
	// A phone number candidate: an optional + or 00, then digits that may
	// be separated by single spaces, dots, dashes or a parenthesised group;
	// validPhone decides.
	phoneRe = lazyRegexp(`(?:\+|\b00)?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{1,5}\)?){2,6}\b`)
	cardRe  = lazyRegexp(`\b\d(?:[ \-]?\d){12,18}\b`)
	ibanRe  = lazyRegexp(`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b`)
	urlRe   = lazyRegexp(`\bhttps?://[^\s<>"']+`)

	// isoDateRe is a date, which a phone pattern must not take for a
	// number (2026-12-05 is a valid number in some plans).
	isoDateRe = lazyRegexp(`^\d{4}[-./]\d{2}[-./]\d{2}$`)

	wholeEmailRe = lazyRegexp(`^` + emailExpr + `$`)
)

const emailExpr = `[\p{L}\p{M}\p{N}._%+\-]+@[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?)*\.\p{L}{2,}`

// lazyRegexp returns expr compiled once, when first called.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// builtinPatterns returns the patterns known by name.
var builtinPatterns = sync.OnceValue(func() map[string]*piiPattern {
	return map[string]*piiPattern{
		"email": {name: "email", re: emailRe(), label: "[email]"},
		"phone": phonePattern(DefaultPhoneRegions),
		"card":  {name: "card", re: cardRe(), valid: luhnValid, label: "[card]"},
		"iban":  {name: "iban", re: ibanRe(), valid: ibanValid, label: "[iban]"},
		"url":   {name: "url", re: urlRe(), label: "[url]"},
	}
})

// builtinPatternNames lists them for hints, in a stable order.
var builtinPatternNames = []string{"email", "phone", "card", "iban", "url"}

// findPII returns the [start, end) spans of p's valid matches in s.
func (p *piiPattern) find(s string) [][]int {
	spans := p.re.FindAllStringIndex(s, -1)
	if p.valid == nil {
		return spans
	}
	out := spans[:0]
	for _, sp := range spans {
		if p.valid(s[sp[0]:sp[1]]) {
			out = append(out, sp)
		}
	}
	return out
}

// DefaultPhoneRegions are the regions whose national formats a phone
// pattern knows when a step names none: a number written with its country
// code (+44 20 7946 0958, 0044 …) is found whatever its region.
var DefaultPhoneRegions = []string{"US", "GB", "DE", "FR", "IN", "BR"}

// phonePattern is the phone pattern for numbers valid in one of regions
// (ISO 3166 codes), by libphonenumber's numbering plans.
func phonePattern(regions []string) *piiPattern {
	return &piiPattern{name: "phone", re: phoneRe(), label: "[phone]",
		valid: func(s string) bool { return validPhone(s, regions) }}
}

// checkPhoneRegions refuses a region libphonenumber does not know.
func checkPhoneRegions(regions []string) error {
	for _, r := range regions {
		if phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) == 0 {
			return fmt.Errorf("unknown phone region %q (want an ISO 3166 code such as DE or US)", r)
		}
	}
	return nil
}

// validPhone reports whether s is a valid phone number: in international
// form (+ or 00 and a country code), or in the national form of one of
// regions.
func validPhone(s string, regions []string) bool {
	t := strings.TrimSpace(s)
	if n := phoneDigits(t); n < 5 || n > 17 || isoDateRe().MatchString(t) {
		return false
	}
	if strings.HasPrefix(t, "00") {
		t = "+" + t[2:]
	}
	if strings.HasPrefix(t, "+") {
		num, err := phonenumbers.Parse(t, "ZZ")
		return err == nil && phonenumbers.IsValidNumber(num)
	}
	for _, r := range regions {
		num, err := phonenumbers.Parse(t, strings.ToUpper(r))
		if err == nil && phonenumbers.IsValidNumberForRegion(num, strings.ToUpper(r)) {
			return true
		}
	}
	return false
}

func phoneDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// phoneE164 normalises a phone number to E.164 (+4930123456): separators
// are dropped, a 00 prefix becomes +, and a national number (leading 0) is
// completed with countryCode ("49") when given. ok is false when the result
// is not a + followed by 8 to 15 digits.
func phoneE164(s, countryCode string) (string, bool) {
	s = strings.TrimSpace(s)
	var digits []byte
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == '+' && len(digits) == 0 && !plus:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", false
		}
	}
	switch {
	case plus:
	case len(digits) > 2 && digits[0] == '0' && digits[1] == '0':
		digits = digits[2:]
	case len(digits) > 1 && digits[0] == '0' && countryCode != "":
		digits = append([]byte(strings.TrimPrefix(countryCode, "+")), digits[1:]...)
	default:
		return "", false
	}
	if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
		return "", false
	}
	return "+" + string(digits), true
}

// emailDomain returns the lowercased domain of an email address, or "".
func emailDomain(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(s[at+1:]))
}

// validEmail is a pragmatic check: one @, a dotted domain, no spaces.
func validEmail(s string) bool { return wholeEmailRe().MatchString(s) }

// validURL accepts absolute http and https URLs with a host.
func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// luhnValid checks a card number's Luhn digit (separators ignored).
func luhnValid(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}

// ibanValid checks an IBAN's mod-97 checksum (spaces ignored).
func ibanValid(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	s = s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}
