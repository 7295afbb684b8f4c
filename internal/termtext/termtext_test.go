package termtext

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Müller", "Müller"},
		{"a\nb\tc", `a\nb\tc`},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\a`},
		{"\u202eevil", `\u202eevil`},
		{"\xff\xfeok", `\xff\xfeok`},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
